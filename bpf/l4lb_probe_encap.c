// SPDX-License-Identifier: BSD-2-Clause
/* Health probes through the tunnel: IPIP (ip6ip6) to the backend, as clients'
 * packets go.
 *
 * Attached at the lightweight-tunnel xmit hook of one route per family, in
 * a routing table that only packets carrying the prober's mark reach (one
 * rule per family, fwmark BASE/0xffff0000).  The mark's lower 16 bits are a
 * slot; the slot holds the backend's address, in probe_backends for IPv4
 * probes and probe_backends6 for IPv6 ones (a backend has a slot in the map
 * of its own family only).  The probe, addressed to the VIP, gets an outer
 * header of its own family from the probe's own source to that backend and
 * is routed again on the outer header (BPF_LWT_REROUTE), with its mark
 * cleared so that it cannot come back here.  A mark whose slot is empty in
 * the probe's family is dropped: a probe is never sent to the VIP unwrapped.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define PROBE_SLOTS 65536
#define SLOT_MASK 0xffff
#define IP_DF 0x4000

/* Indices of probe_stats; the adapter reads them by position. */
enum probe_stat {
	PROBE_ENCAPSULATED = 0,
	PROBE_NO_SLOT,     /* the mark's slot holds no backend of the probe's family: dropped */
	PROBE_MALFORMED,   /* not a whole IPv4 or IPv6 header: dropped */
	PROBE_FAILED,      /* the kernel refused the header: dropped */
	PROBE_NSTATS,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_SLOTS);
	__type(key, __u32);
	__type(value, __be32);
} probe_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_SLOTS);
	__type(key, __u32);
	__type(value, struct in6_addr);
} probe_backends6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROBE_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} probe_stats SEC(".maps");

static __always_inline int count(__u32 idx, int verdict)
{
	__u64 *n = bpf_map_lookup_elem(&probe_stats, &idx);

	if (n)
		*n += 1;
	return verdict;
}

static __always_inline int push(struct __sk_buff *skb, void *outer, __u32 len)
{
	skb->mark = 0;
	if (bpf_lwt_push_encap(skb, BPF_LWT_ENCAP_IP, outer, len))
		return count(PROBE_FAILED, BPF_DROP);
	return count(PROBE_ENCAPSULATED, BPF_LWT_REROUTE);
}

static __always_inline int encap4(struct __sk_buff *skb, struct iphdr *inner, __u32 slot)
{
	struct iphdr outer = {};
	__be32 *backend = bpf_map_lookup_elem(&probe_backends, &slot);

	if (!backend || !*backend)
		return count(PROBE_NO_SLOT, BPF_DROP);
	outer.version = 4;
	outer.ihl = sizeof(outer) / 4;
	outer.tos = inner->tos;
	outer.tot_len = bpf_htons(skb->len + sizeof(outer));
	outer.frag_off = inner->frag_off & bpf_htons(IP_DF);
	outer.ttl = 64;
	outer.protocol = IPPROTO_IPIP;
	outer.saddr = inner->saddr;
	outer.daddr = *backend;
	/* check = 0: the kernel fills the checksum in. */
	return push(skb, &outer, sizeof(outer));
}

static __always_inline int encap6(struct __sk_buff *skb, struct ipv6hdr *inner, __u32 slot)
{
	struct ipv6hdr outer = {};
	struct in6_addr *backend = bpf_map_lookup_elem(&probe_backends6, &slot);

	if (!backend || !(backend->s6_addr32[0] | backend->s6_addr32[1] |
			  backend->s6_addr32[2] | backend->s6_addr32[3]))
		return count(PROBE_NO_SLOT, BPF_DROP);
	outer.version = 6;
	/* The inner traffic class and flow label, as the balancer's own ip6ip6. */
	outer.priority = inner->priority;
	__builtin_memcpy(outer.flow_lbl, inner->flow_lbl, sizeof(outer.flow_lbl));
	outer.payload_len = bpf_htons(skb->len);
	outer.nexthdr = IPPROTO_IPV6;
	outer.hop_limit = 64;
	outer.saddr = inner->saddr;
	outer.daddr = *backend;
	return push(skb, &outer, sizeof(outer));
}

SEC("lwt_xmit")
int l4lb_probe_encap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *inner = data;
	struct ipv6hdr *inner6 = data;
	__u32 slot = skb->mark & SLOT_MASK;

	if ((void *)(inner + 1) <= data_end && inner->version == 4)
		return encap4(skb, inner, slot);
	if ((void *)(inner6 + 1) <= data_end && inner6->version == 6)
		return encap6(skb, inner6, slot);
	return count(PROBE_MALFORMED, BPF_DROP);
}

char _license[] SEC("license") = "GPL";
