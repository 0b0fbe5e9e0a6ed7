/*
 * https.c - the HTTPS GET of https.h over libcurl. Not a general HTTP client: GET only,
 * https only, one document into memory.
 */
#include "https.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sink {
	char *buf;
	size_t len, max;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *b = arg;
	size_t n = size * nmemb;
	char *nb;

	if (b->len + n > b->max || (nb = realloc(b->buf, b->len + n + 1)) == NULL)
		return 0;               /* libcurl stops with CURLE_WRITE_ERROR */
	b->buf = nb;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return n;
}

/* "HOST:PORT:ADDR,ADDR" for CURLOPT_RESOLVE. */
static struct curl_slist *pin(const struct https_req *req)
{
	char line[700];
	size_t lo = (size_t)snprintf(line, sizeof(line), "%s:%u:", req->host, req->port);

	for (size_t i = 0; i < req->naddrs && lo < sizeof(line); i++)
		lo += (size_t)snprintf(line + lo, sizeof(line) - lo, "%s%s%s%s", i ? "," : "",
		                       strchr(req->addrs[i], ':') ? "[" : "", req->addrs[i],
		                       strchr(req->addrs[i], ':') ? "]" : "");
	return lo < sizeof(line) ? curl_slist_append(NULL, line) : NULL;
}

int https_get(const struct https_req *req, struct https_resp *resp, char *err, size_t errlen)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *resolve = NULL, *connect_to = NULL;
	struct sink b = { NULL, 0, req->max_bytes };
	char errbuf[CURL_ERROR_SIZE] = "";
	const char *ct = NULL;
	CURLcode cr;

	memset(resp, 0, sizeof(*resp));
	if (curl == NULL) {
		snprintf(err, errlen, "cannot start libcurl");
		return -1;
	}
	if (req->naddrs > 0 && (resolve = pin(req)) != NULL)
		curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
	for (size_t i = 0; i < req->nconnect_to; i++)
		connect_to = curl_slist_append(connect_to, req->connect_to[i]);
	if (connect_to)
		curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect_to);
	curl_easy_setopt(curl, CURLOPT_URL, req->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (req->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, req->ca_file);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, req->user_agent ? req->user_agent : "mailport");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	struct curl_slist *headers = NULL;
	if (req->post != NULL) {
		char ctype[160];
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", req->post_type ? req->post_type :
		         "application/octet-stream");
		headers = curl_slist_append(NULL, ctype);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->post);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->post_len);
	}
	cr = curl_easy_perform(curl);
	curl_slist_free_all(headers);
	if (cr != CURLE_OK) {
		snprintf(err, errlen, "%s", cr == CURLE_WRITE_ERROR ? "the document is too large" :
		         errbuf[0] ? errbuf : curl_easy_strerror(cr));
		free(b.buf);
		curl_slist_free_all(resolve);
		curl_slist_free_all(connect_to);
		curl_easy_cleanup(curl);
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
		snprintf(resp->content_type, sizeof(resp->content_type), "%s", ct);
	resp->body = b.buf ? b.buf : calloc(1, 1);
	resp->len = b.len;
	curl_slist_free_all(resolve);
	curl_slist_free_all(connect_to);
	curl_easy_cleanup(curl);
	return 0;
}
