// SPDX-License-Identifier: GPL-2.0
/* The mode-switch guard: a TC ingress program on the balancer's interface
 * for the length of one switch between driver and generic XDP.  The kernel
 * will not run both modes at once, so the switch detaches one and attaches
 * the other, and for that moment the host's own stack, which holds the VIP,
 * would see the services' packets and answer them with TCP resets and ICMP
 * port unreachables.  TC ingress runs after either XDP mode, so while the
 * balancer is attached it never sees a packet the balancer takes; in the gap
 * it drops exactly those packets, IPv4 and IPv6 (the balancer's own service
 * lookups, on the balancer's maps), and clients retransmit them.  Everything else goes on to
 * the next TC program or filter, as if the guard were not there. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"
#include "l4lb_maps.h"
#include "l4lb_parse.h"
#include "l4lb_svc.h"
#include "l4lb_parse6.h"
#include "l4lb_svc6.h"

/* The guard's own counter: the balancer's maps keep their layout.  The
 * stamps (CLOCK_MONOTONIC) bound the gap as the packets saw it. */
struct guard_stats {
	__u64 pkts;
	__u64 bytes;
	__u64 first_ns;
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guard_stats);
} guard_stats SEC(".maps");

/* Headers the balancer reads: Ethernet, IPv4 or IPv6, and both ports. */
#define GUARD_HEADERS (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct ports))
#define GUARD_HEADERS6 (sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct ports))

static __always_inline int held_back(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct guard_stats *st = bpf_map_lookup_elem(&guard_stats, &zero);

	if (st) {
		__u64 now = bpf_ktime_get_ns();

		if (!st->first_ns)
			st->first_ns = now;
		st->last_ns = now;
		st->pkts += 1;
		st->bytes += skb->len;
	}
	return TC_ACT_SHOT;
}

/* An IPv6 packet the balancer would balance: TCP or UDP right after the
 * fixed header (extension headers and fragments it passes to the kernel),
 * to a v6 service (svc6, the XDP program's lookup). */
static __always_inline int guard6(struct __sk_buff *skb)
{
	if (skb->data + GUARD_HEADERS6 > skb->data_end && bpf_skb_pull_data(skb, GUARD_HEADERS6))
		return TC_ACT_UNSPEC;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct packet6 p = {};

	p.ip6 = (void *)(eth + 1);
	p.ports = (void *)(p.ip6 + 1);
	if ((void *)(p.ports + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return TC_ACT_UNSPEC;
	if (p.ip6->version != 6)
		return TC_ACT_UNSPEC;
	if (p.ip6->nexthdr != IPPROTO_TCP && p.ip6->nexthdr != IPPROTO_UDP)
		return TC_ACT_UNSPEC;
	if (!find_service6(&p))
		return TC_ACT_UNSPEC;
	return held_back(skb);
}

SEC("tc")
int l4lb_guard(struct __sk_buff *skb)
{
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return guard6(skb);
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	/* Headers past the linear part would be out of direct reach. */
	if (skb->data + GUARD_HEADERS > skb->data_end && bpf_skb_pull_data(skb, GUARD_HEADERS))
		return TC_ACT_UNSPEC;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	struct ports *ports = (void *)(iph + 1);

	if ((void *)(ports + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	/* What the balancer passes to the kernel, the guard passes too. */
	if (iph->version != 4 || iph->ihl != 5 || iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return TC_ACT_UNSPEC;
	if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP)
		return TC_ACT_UNSPEC;

	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);

	if (!cfg || !find_service(iph->daddr, ports->dst, iph->protocol, cfg->flags))
		return TC_ACT_UNSPEC;
	return held_back(skb);
}

char _license[] SEC("license") = "GPL";
