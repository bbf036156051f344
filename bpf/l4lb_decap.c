// SPDX-License-Identifier: BSD-2-Clause
/* IPIP and ip6ip6 decapsulation for the lab's backends.
 *
 * The kernel here has no ipip module, so a backend cannot terminate the
 * balancer's tunnel with a device.  This program strips the outer IPv4
 * header of IPIP packets (the outer IPv6 header of ip6ip6 ones, next header
 * 41) addressed to this backend and hands the inner packet (addressed to
 * the VIP, held on lo) to the stack.  Everything else passes untouched, so
 * the backend stays reachable as an ordinary host.
 *
 * The backend's own addresses are not known at build time: the lab writes
 * them into decap_addr and decap_addr6 after attaching.  Until then
 * (address 0) nothing of that family is decapsulated.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

/* Indices of decap_stats; tools read them by position, keep the order. */
enum decap_stat {
	DECAP_OK = 0,      /* outer header stripped, inner packet passed */
	DECAP_NOT_IPIP,    /* neither IPIP nor ip6ip6: passed as is */
	DECAP_FOREIGN,     /* a tunnel to another address: passed as is */
	DECAP_MALFORMED,   /* truncated, fragmented or bad inner header: passed */
	DECAP_ERROR,       /* headers moved but frame unusable: dropped */
	DECAP_NSTATS,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __be32);
} decap_addr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct in6_addr);
} decap_addr6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DECAP_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} decap_stats SEC(".maps");

static __always_inline int count(__u32 idx, int verdict)
{
	__u64 *n = bpf_map_lookup_elem(&decap_stats, &idx);

	if (n)
		*n += 1;
	return verdict;
}

/* Remove `len` bytes after the Ethernet header, keeping the header. */
static __always_inline int strip(struct xdp_md *ctx, struct ethhdr *eth, __u32 len)
{
	struct ethhdr eth_copy;
	void *data, *data_end;

	__builtin_memcpy(&eth_copy, eth, sizeof(eth_copy));
	/* On failure the frame is untouched, so the stack can still have it. */
	if (bpf_xdp_adjust_head(ctx, (int)len))
		return count(DECAP_MALFORMED, XDP_PASS);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	/* Unreachable given the length checked before, but the verifier needs
	 * the bound, and the outer header is already gone: nothing sane is
	 * left to pass. */
	if ((void *)(eth + 1) > data_end)
		return count(DECAP_ERROR, XDP_DROP);
	__builtin_memcpy(eth, &eth_copy, sizeof(*eth));
	return count(DECAP_OK, XDP_PASS);
}

static __always_inline int decap6(struct xdp_md *ctx, struct ethhdr *eth, void *data_end)
{
	struct ipv6hdr *outer = (void *)(eth + 1), *inner;
	struct in6_addr *local;
	__u32 zero = 0;

	if ((void *)(outer + 1) > data_end)
		return count(DECAP_MALFORMED, XDP_PASS);
	if (outer->nexthdr != IPPROTO_IPV6)
		return count(DECAP_NOT_IPIP, XDP_PASS);
	local = bpf_map_lookup_elem(&decap_addr6, &zero);
	if (!local || !(local->s6_addr32[0] | local->s6_addr32[1] | local->s6_addr32[2] |
			local->s6_addr32[3]))
		return count(DECAP_FOREIGN, XDP_PASS);
	if (outer->daddr.s6_addr32[0] != local->s6_addr32[0] ||
	    outer->daddr.s6_addr32[1] != local->s6_addr32[1] ||
	    outer->daddr.s6_addr32[2] != local->s6_addr32[2] ||
	    outer->daddr.s6_addr32[3] != local->s6_addr32[3])
		return count(DECAP_FOREIGN, XDP_PASS);
	inner = (void *)(outer + 1);
	if (outer->version != 6 || (void *)(inner + 1) > data_end || inner->version != 6)
		return count(DECAP_MALFORMED, XDP_PASS);
	return strip(ctx, eth, sizeof(*outer));
}

SEC("xdp")
int l4lb_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer, *inner;
	__u32 zero = 0, outer_len;
	__be32 *local;

	if ((void *)(eth + 1) > data_end)
		return count(DECAP_NOT_IPIP, XDP_PASS);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return decap6(ctx, eth, data_end);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return count(DECAP_NOT_IPIP, XDP_PASS);
	outer = (void *)(eth + 1);
	if ((void *)(outer + 1) > data_end)
		return count(DECAP_MALFORMED, XDP_PASS);
	if (outer->protocol != IPPROTO_IPIP)
		return count(DECAP_NOT_IPIP, XDP_PASS);

	local = bpf_map_lookup_elem(&decap_addr, &zero);
	if (!local || *local == 0 || outer->daddr != *local)
		return count(DECAP_FOREIGN, XDP_PASS);

	/* A fragment of a tunnelled packet cannot be decapsulated on its own;
	 * the stack gets it and, lacking ipip, discards it visibly. */
	if (outer->ihl < 5 || outer->version != 4 ||
	    (outer->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return count(DECAP_MALFORMED, XDP_PASS);
	outer_len = outer->ihl * 4;
	inner = (void *)outer + outer_len;
	if ((void *)(inner + 1) > data_end || inner->version != 4 || inner->ihl < 5)
		return count(DECAP_MALFORMED, XDP_PASS);

	return strip(ctx, eth, outer_len);
}

char _license[] SEC("license") = "GPL";
