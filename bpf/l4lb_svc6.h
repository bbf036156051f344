/* IPv6 services: svc6, direct-mapped as svc_index (l4lb_svc.h) with 32-byte
 * slots, and the VIP filter it shares with IPv4 through the address's fold.
 * Inlined array lookups: the hash map it replaces cost a call, a jhash of
 * the 20-byte key and a compare on every flow the table does not hold. */
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
/* svc_bucket's hash over the VIP's fold.  Mirrored in abi6.svc6_bucket. */
static __always_inline __u32 svc6_bucket(__u32 fold, __be16 port, __u8 proto)
{
	__u32 h = fold * 0x9E3779B1u ^ (((__u32)port << 16) | proto) * 0x85EBCA6Bu;

	return h >> (32 - SVC6_BUCKETS_LOG2);
}

/* The slot of (vip, port, proto) with `flags` (SVC_USED, and SVC_VIP for a
 * marker) in its bucket; a service slot must also name a service.  The
 * port..flags word is compared first: it tells most slots apart. */
static __always_inline struct svc6_slot *svc6_scan(const void *vip, __u32 fold, __be16 port,
						   __u8 proto, __u8 flags, int need_id)
{
	__u32 first = svc6_bucket(fold, port, proto) * SVC6_BUCKET;
	__u32 want = (__u32)port | (__u32)proto << 16 | (__u32)flags << 24;
	const __u64 *a = vip;

#pragma unroll
	for (__u32 i = 0; i < SVC6_BUCKET; i++) {
		__u32 idx = first + i;
		struct svc6_slot *s = bpf_map_lookup_elem(&svc6, &idx);

		if (s && (*(__u32 *)&s->port & SVC6_FLAGS_MASK) == want &&
		    *(__u64 *)s->vip == a[0] && *(__u64 *)&s->vip[8] == a[1] && (!need_id || s->id))
			return s;
	}
	return NULL;
}

/* The service id of a v6 packet: exact port first, then the VIP's any-port
 * service; 0 for none. */
static __always_inline __u32 find_service6(const struct packet6 *p)
{
	const void *vip = &p->ip6->daddr;
	__u32 fold = addr6_fold(vip);
	__u8 proto = p->ip6->nexthdr;
	struct svc6_slot *s = svc6_scan(vip, fold, p->ports->dst, proto, SVC_USED, 1);

	if (!s)
		s = svc6_scan(vip, fold, 0, proto, SVC_USED, 1);
	return s ? s->id : 0;
}

/* The exact check behind the filter: the VIP's marker slot. */
static __always_inline int is_vip6(const void *daddr)
{
	return svc6_scan(daddr, addr6_fold(daddr), 0, 0, SVC_USED | SVC_VIP, 0) != NULL;
}
#endif

#endif
