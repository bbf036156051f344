// SPDX-License-Identifier: BSD-2-Clause
/* Attached to the bridge-side peer of the balancer's veth.  A veth only
 * delivers XDP_TX frames to its peer when the peer runs NAPI, and having an
 * XDP program attached is what makes it run NAPI.  The program itself has
 * nothing to decide. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int l4lb_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
