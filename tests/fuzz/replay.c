/*
 * replay.c - run a fuzz target over corpus files without libFuzzer, so `make test` replays
 * every committed corpus with gcc + ASan/UBSan. Usage: replay FILE|DIR ...
 * Prints "fuzz-replay NAME: N inputs" and exits non-zero if any input crashes (it aborts).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0) {
		perror(path);
		exit(2);
	}
	rewind(fp);
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		perror(path);
		exit(2);
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 1;
}

int main(int argc, char **argv)
{
	size_t n = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			return 2;
		}
		if (!S_ISDIR(st.st_mode)) {
			n += run_file(argv[i]);
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		while (d && (de = readdir(d)) != NULL) {
			char path[4096];
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			n += run_file(path);
		}
		if (d)
			closedir(d);
	}
	printf("fuzz-replay %s: %zu inputs, 0 crashes\n", argc > 1 ? argv[1] : "", n);
	return n == 0 ? 1 : 0;
}
