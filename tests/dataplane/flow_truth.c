/* The flow table's pure functions, compiled for the host from the data
 * plane's own header, print their truth tables for test_flow_states.py. */
#include <stdio.h>
#include "l4lb_flow.h"

int main(void)
{
	for (unsigned t = 0; t < 256; t++)
		printf("tag %u %u %u\n", t, tag_stored(t), tag_empty(t));
	for (unsigned x = 0; x < 128; x++)
		printf("fp %u %u\n", x, flow_fp(x | 0xffffff80u));
	/* The flows of one bucket, differing in the 7 bits below it, at each size. */
	for (unsigned log2 = 12; log2 <= FLOW_LOG2_MAX; log2++)
		for (unsigned x = 0; x < 128; x++) {
			unsigned at = FLOW_FP_SHIFT_TOP - log2;
			unsigned h = (0xa5a5a5a5u & ~(0x7fu << at)) | x << at;

			printf("fpsize %u %u %u %u\n", log2, x, flow_bucket(h, log2),
			       flow_fp(fp_bits(h, log2)));
		}
	for (unsigned t0 = 0; t0 < 256; t0++)
		for (unsigned t1 = 0; t1 < 256; t1++)
			/* The tags' choice; first_way then prefers an expired
			 * entry to a mark, which reads the table (a kernel test). */
			if (!(tag_stored(t0) & tag_stored(t1)))
				printf("way %u %u %u\n", t0, t1, free_way(t0, t1));
	for (unsigned now = 0; now < 1u << (FLOW_PICK_EPOCH_SHIFT + 8);
	     now += 1u << (FLOW_PICK_EPOCH_SHIFT - 1))
		for (unsigned made = 0; made < 1u << (FLOW_PICK_EPOCH_SHIFT + 6);
		     made += 1u << (FLOW_PICK_EPOCH_SHIFT - 1))
			printf("pick %u %u %u %u\n", now, made, pick_of(7, made),
			       pick_fresh(pick_of(7, made), now));
	for (unsigned s = 0; s < FLOW_STATES; s++)
		for (unsigned f = 0; f < 64; f++)
			printf("state %u %u %u\n", s, f, tcp_next_state(s, f));
	return 0;
}
