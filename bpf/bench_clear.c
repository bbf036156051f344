// SPDX-License-Identifier: BSD-2-Clause
/* `l4lb bench dataplane`: empty the balancer's flow table between runs.
 *
 * Loaded with the balancer's own `flows` map in place of this one (bpftool
 * `map name flows id N`), and run once with BPF_PROG_TEST_RUN: every slot is
 * zeroed in the kernel in milliseconds, where a batch update from user space
 * takes a third of a second for 2^20 slots.  Built from the data plane's
 * headers, so the map definition always matches the balancer's.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_SLOTS);
	__type(key, __u32);
	__type(value, struct flow);
} flows SEC(".maps");

static long zero_slot(void *map, __u32 *key, struct flow *slot, void *ctx)
{
	__builtin_memset(slot, 0, sizeof(*slot));
	return 0;
}

SEC("xdp")
int bench_clear(struct xdp_md *ctx)
{
	long done = bpf_for_each_map_elem(&flows, zero_slot, NULL, 0);

	return done == FLOW_SLOTS ? XDP_PASS : XDP_ABORTED;
}

char _license[] SEC("license") = "GPL";
