// SPDX-License-Identifier: BSD-2-Clause
/* `l4lb bench dataplane`: empty the balancer's flow table between runs.
 *
 * Loaded with the balancer's own `flow_tags` map in place of this one
 * (bpftool `map name flow_tags id N`), and run once with BPF_PROG_TEST_RUN:
 * every tag is zeroed in the kernel in a millisecond, and an entry whose tag
 * is zero is never read.  Built from the data plane's
 * headers, so the map definition always matches the balancer's.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_TAG_ENTRIES);
	__type(key, __u32);
	__type(value, struct flow_tags);
} flow_tags SEC(".maps");

static long zero_slot(void *map, __u32 *key, struct flow_tags *slot, void *ctx)
{
	__builtin_memset(slot, 0, sizeof(*slot));
	return 0;
}

SEC("xdp")
int bench_clear(struct xdp_md *ctx)
{
	long done = bpf_for_each_map_elem(&flow_tags, zero_slot, NULL, 0);

	/* The balancer's map may be sized otherwise than this definition (the
	 * operator's choice at attach); zero_slot never stops the walk. */
	return done > 0 ? XDP_PASS : XDP_ABORTED;
}

char _license[] SEC("license") = "GPL";
