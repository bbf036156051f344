// SPDX-License-Identifier: BSD-2-Clause
/* `l4lb bench dataplane`: the reference programs every figure is set against,
 * timed through the same wrapper (bench_wrap.c) in the same run.
 *
 *   bench_refl  swaps the Ethernet addresses and sends the frame back out
 *               (XDP_TX): the least a program that transmits can do, the
 *               ceiling for the balancer's forwarding paths;
 *   bench_pass  XDP_PASS untouched: the floor for traffic that is not ours;
 *   bench_drop  XDP_DROP: attached to the veth peer (which must run XDP to
 *               receive XDP_TX frames at all), and timed as the fixed cost of
 *               the test run plus the wrapper.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include "bench_reflect.h"

SEC("xdp")
int bench_refl(struct xdp_md *ctx)
{
	return reflect((void *)(long)ctx->data, (void *)(long)ctx->data_end);
}

SEC("xdp")
int bench_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int bench_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
