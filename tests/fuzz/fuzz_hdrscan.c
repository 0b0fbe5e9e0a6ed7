/*
 * fuzz_hdrscan.c - the header-section scanner used on submitted messages (Date and
 * Message-ID added when missing) and by `mailport send -t`. The first octet picks the chunk
 * size. Invariants: the answer does not depend on how the input is cut; the header section
 * never claims more octets than were fed; once done it stays done.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "msg/hdrscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hdrscan whole, cut;
	size_t step, in_whole, in_cut = 0;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	memset(&whole, 0, sizeof(whole));
	memset(&cut, 0, sizeof(cut));
	in_whole = hdrscan_feed(&whole, (const char *)data, size);
	assert(in_whole <= size);
	for (size_t i = 0; i < size; i += step) {
		size_t n = size - i < step ? size - i : step;
		int was_done = cut.done;
		in_cut += hdrscan_feed(&cut, (const char *)data + i, n);
		assert(!was_done || cut.done);
	}
	assert(in_cut == in_whole);
	assert(cut.done == whole.done && cut.seen == whole.seen);
	assert(!whole.done || whole.octets <= size);
	return 0;
}
