/* IPv6 services: svc6 (a hash map; ARCHITECTURE.md says why) and the VIP
 * filter it shares with IPv4 through the address's fold. */
#ifndef L4LB_SVC6_H
#define L4LB_SVC6_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"
#include "l4lb_maps.h"
#include "l4lb_parse6.h"
#include "l4lb_svc.h"

#ifndef L4LB_OFFLOAD
static __always_inline __u32 svc6_id(struct svc6_key *k)
{
	struct svc6_value *v = bpf_map_lookup_elem(&svc6, k);

	return v ? v->id : 0;
}

/* The service id of a v6 packet: exact port first, then the VIP's any-port
 * service; 0 for none. */
static __always_inline __u32 find_service6(const struct packet6 *p)
{
	struct svc6_key k __attribute__((aligned(8))) = {};

	addr6_copy(k.vip, &p->ip6->daddr);
	k.port = p->ports->dst;
	k.proto = p->ip6->nexthdr;
	__u32 id = svc6_id(&k);
	if (id)
		return id;
	k.port = 0;
	return svc6_id(&k);
}

/* The exact check behind the filter: the VIP's marker key. */
static __always_inline int is_vip6(const void *daddr)
{
	struct svc6_key k __attribute__((aligned(8))) = {};

	addr6_copy(k.vip, daddr);
	return bpf_map_lookup_elem(&svc6, &k) != NULL;
}
#endif

#endif
