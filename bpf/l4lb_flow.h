/* The flow table (layout and costs in l4lb_consts.h): a flow's tag, its pick
 * and its entry.  Not in the offload build (the NFP has no clock helper),
 * which keeps only the record of a miss. */
#ifndef L4LB_FLOW_H
#define L4LB_FLOW_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"
#include "l4lb_maps.h"
#include "l4lb_parse.h"

/* What the table says about a packet it holds no usable entry for: the way
 * to record the flow in once its backend is chosen (tag NULL: none, the flow
 * is untracked) and the counter it goes under. */
struct flow_miss {
	__u8 *tag;
	__u32 *pick; /* FLOW_STORED: the flow's pick (and check) */
	__u32 slot;
	__u32 check; /* flow_check4 of the packet */
	__u32 stat; /* FLOW_NEW, FLOW_STORED, FLOW_STALE, FLOW_REUSED or FLOW_UNTRACKED */
	__u8 fp;
	__u8 syn;   /* a connection's opening SYN (or a repeat of it) */
};

#ifndef L4LB_OFFLOAD
static __always_inline void flow_count(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&flow_stats, &what);

	if (n)
		*n += 1;
}

/* Which of a service's two halves is live (see struct svc_live). */
static __always_inline __u32 live_half(const struct svc_live *live)
{
	return (live->ring_chunk >> RING_CHUNKS_LOG2) & 1;
}

/* A backend slot that is still a member of the service while `half` is live. */
static __always_inline int is_member(const struct backend *be, __u32 svc_id, __u32 half)
{
	return be->ip && be->svc_id == svc_id && ((be->member >> half) & 1);
}

/* A member that takes new connections in `half`: weight above 0 and drained
 * by no one.  A drained member keeps the connections it has; a new attempt
 * (a SYN, first or repeated) goes by the ring instead. */
static __always_inline int is_serving(const struct backend *be, __u32 half)
{
	return be->weight[half & 1] && !(((be->drained | be->down) >> half) & 1);
}

/* The pick of a backend made now, and whether a pick is still trusted:
 * made in this epoch or the last.  Truth table: tests/dataplane/test_flow_states.py. */
static __always_inline __u16 pick_of(__u32 backend_idx, __u32 now)
{
	return backend_idx | ((now >> FLOW_PICK_EPOCH_SHIFT) << FLOW_PICK_INDEX_BITS);
}

static __always_inline int pick_fresh(__u16 pick, __u32 now)
{
	__u32 age = (now >> FLOW_PICK_EPOCH_SHIFT) - (pick >> FLOW_PICK_INDEX_BITS);

	return (age & ((1u << (16 - FLOW_PICK_INDEX_BITS)) - 1)) <= 1;
}

/* The state of a TCP entry after a packet from the client with these flags.
 * RST and FIN shorten an idle entry's life and stay (the last ACKs of a close
 * must not give it 900 s again); a SYN-stored entry is established by the
 * next packet without SYN.  Truth table: tests/dataplane/test_flow_states.py. */
static __always_inline __u8 tcp_next_state(__u8 state, __u8 flags)
{
	if (flags & TCP_FLAG_RST)
		return FLOW_TCP_RST;
	if (state == FLOW_TCP_RST)
		return state;
	if (flags & TCP_FLAG_FIN)
		return FLOW_TCP_FIN;
	if (state == FLOW_TCP_SYN && !(flags & TCP_FLAG_SYN))
		return FLOW_TCP_EST;
	return state;
}

/* Addresses and ports are adjacent in the packet and in the entry: two
 * 8-byte and one 4-byte compare. */
static __always_inline int flow_is(struct flow *f, struct iphdr *iph, struct ports *ports)
{
	return *(__u64 *)&f->saddr == *(__u64 *)&iph->saddr &&
	       *(__u32 *)&f->sport == *(__u32 *)ports && f->proto == iph->protocol;
}

static __always_inline struct flow *flow_find(__u32 slot, struct iphdr *iph, struct ports *ports)
{
	struct flow *f = bpf_map_lookup_elem(&flows, &slot);

	return f && flow_is(f, iph, ports) ? f : NULL;
}

/* The fast path of an established flow: inlined array lookups only.  An
 * entry is trusted while its backend is still a member of the service (its
 * address still in the slot, the live half's member bit set): a removed
 * backend's flows move at once, a drained one's stay.  Past its lifetime an
 * entry still holds until another flow takes its way: a flow back from a long
 * pause stays where its server knows it. */
static __always_inline struct backend *flow_backend(__u32 svc_id, __u32 backend, __be32 backend_ip,
						     __u32 *backend_idx, int syn)
{
	struct svc_live *live = bpf_map_lookup_elem(&svc_live, &svc_id);

	if (!live || !live->gen)
		return NULL;
	*backend_idx = backend;
	struct backend *be = bpf_map_lookup_elem(&backends, backend_idx);
	__u32 half = live_half(live);
	if (!be || be->ip != backend_ip || !is_member(be, svc_id, half))
		return NULL;
	if (syn && !is_serving(be, half))
		return NULL; /* a repeated SYN is a new attempt: not to a drained backend */
	return be;
}

static __always_inline struct backend *flow_hit(struct flow *f, __u32 now, __u32 *backend_idx,
						int syn)
{
	struct backend *be = flow_backend(f->svc_id, f->backend, f->backend_ip, backend_idx, syn);

	if (be && now - f->seen >= FLOW_REFRESH_JIFFIES)
		f->seen = now;
	return be;
}

/* The flow's first way in a table of 2^log2 slots: the hash's top bits
 * (bit 32 - log2, the way's, is left out). */
static __always_inline __u32 flow_bucket(__u32 hash, __u32 log2)
{
	return (hash >> (32 - log2)) & ~1u;
}

/* The hash bits a fingerprint is made of: the 7 just below the bucket's
 * (bits 26 - log2 .. 32 - log2), so that they differ between the flows of
 * one bucket at every size; fixed bits (6..12) would lie inside the bucket's
 * from 2^21 slots on, and all of a bucket's flows would share them. */
static __always_inline __u32 fp_bits(__u32 hash, __u32 log2)
{
	return hash >> (FLOW_FP_SHIFT_TOP - log2);
}

/* A flow's 7-bit fingerprint, 1..127 (0 marks an empty way), from
 * fp_bits; 0 folds onto 1, branch-free.  Truth table:
 * tests/dataplane/test_flow_states.py. */
static __always_inline __u8 flow_fp(__u32 bits)
{
	__u32 x = bits & 0x7f;

	return x + ((x - 1) >> 31);
}

/* 1 for a tag that stores a flow (1..127), else 0; branch-free.  Truth
 * table: tests/dataplane/test_flow_states.py. */
static __always_inline __u32 tag_stored(__u32 t)
{
	return ((t + 127) >> 7) & ~(t >> 7) & 1;
}

/* 1 for an empty tag, else 0; branch-free. */
static __always_inline __u32 tag_empty(__u32 t)
{
	return (t - 1) >> 31;
}

/* Another flow's entry gives its way up once it has been idle for its
 * state's lifetime. */
static __always_inline int flow_expired(__u32 slot, struct config *cfg, __u32 now)
{
	struct flow *f = bpf_map_lookup_elem(&flows, &slot);

	return f && now - f->seen >= cfg->ttl[f->state & (FLOW_STATE_SLOTS - 1)];
}

/* The way a flow's first packet takes by its bucket's tags alone: an empty
 * one, else one another flow only marked; 2: both store flows (their
 * entries say whether one has expired).  Chosen by arithmetic, not branches:
 * whether a way is taken is random, and a mispredicted branch on a tag that
 * missed the cache would throw away the work done meanwhile.  Shared with
 * the IPv6 table (l4lb_flow6.h), whose tags follow the same rule. */
static __always_inline __u32 free_way(__u8 t0, __u8 t1)
{
	__u32 s0 = tag_stored(t0), s1 = tag_stored(t1);

	if (s0 & s1)
		return 2;
	return s0 | (~s1 & ~tag_empty(t0) & tag_empty(t1) & 1);
}

/* An empty way first; then a way whose stored flow has expired; then one
 * another flow only marked (free_way); 2: none.  An expired entry is taken
 * before a mark: a mark given up is a flow whose second packet finds no
 * note (t18 HIGH-3: after a burst expired, new flows of one bucket took
 * each other's marks beside a dead entry, and none was stored).  The
 * entry is read only when the bucket has no empty way. */
static __always_inline __u32 first_way(__u8 t0, __u8 t1, __u32 bucket, struct config *cfg,
				       __u32 now)
{
	__u32 way = free_way(t0, t1);

	if (way < 2 && tag_empty(way ? t1 : t0))
		return way;
	if (tag_stored(t0) && flow_expired(bucket, cfg, now))
		return 0;
	if (tag_stored(t1) && flow_expired(bucket + 1, cfg, now))
		return 1;
	return way;
}

/* 16 bits of a flow for its pick, in the high half (struct flow_picks):
 * another mix of the source and ports than flow_hash's, so two flows of one
 * bucket and fingerprint still differ here but one time in 65,536. */
static __always_inline __u32 flow_check4(__be32 saddr, __u32 ports)
{
	__u32 c = (saddr + ports) * 0xCC9E2D51u;

	return (c ^ (c >> 16)) & FLOW_PICK_CHECK_MASK;
}

/* The way whose pending mark is the packet's flow's (its fingerprint
 * marked, a pick with its check), that pick in *pick; 2: none.  The picks
 * are read only under a mark of the fingerprint: most first packets read
 * none.  Shared with the IPv6 table (its own picks map). */
static __always_inline __u32 pending_way(void *picks_map, __u8 t0, __u8 t1, __u8 fp, __u32 check,
					 __u32 bucket, __u32 **pick)
{
	__u8 mark = fp | FLOW_TAG_PENDING;

	if (t0 != mark && t1 != mark)
		return 2;
	__u32 idx = bucket / FLOW_PICKS_PER_ENTRY;
	struct flow_picks *picks = bpf_map_lookup_elem(picks_map, &idx);

	if (!picks)
		return 2;
	__u32 *pk = &picks->b[bucket & (FLOW_PICKS_PER_ENTRY - 2)];
	__u32 way = 2;

	if (t0 == mark && (pk[0] & FLOW_PICK_CHECK_MASK) == check)
		way = 0;
	else if (t1 == mark && (pk[1] & FLOW_PICK_CHECK_MASK) == check)
		way = 1;
	if (way < 2)
		*pick = &pk[way];
	return way;
}

/* A first packet's pick and check, noted at `slot` of `picks_map`. */
static __always_inline void note_pick(void *picks_map, __u32 slot, __u32 backend_idx, __u32 now,
				      __u32 check)
{
	__u32 idx = slot / FLOW_PICKS_PER_ENTRY;
	struct flow_picks *picks = bpf_map_lookup_elem(picks_map, &idx);

	if (picks)
		picks->b[slot & (FLOW_PICKS_PER_ENTRY - 1)] = pick_of(backend_idx, now) | check;
}

/* Look the packet's flow up.  A hit returns its backend (and refreshes the
 * entry); otherwise `miss` says where and how the flow is to be recorded.
 * A SYN that meets its own 5-tuple's entry opens a new connection: it takes
 * the slot over instead of following the old one (a client reusing a port,
 * behind NAT or after a reset), unless the entry was stored by a SYN (a
 * retransmission of this very connection's). */
static __always_inline struct backend *flow_lookup(struct flow_miss *miss, struct iphdr *iph,
						   struct ports *ports, __u32 hash, __u8 tcp_flags,
						   struct config *cfg, __u32 now,
						   __u32 *backend_idx)
{
	/* The bucket takes the hash's top bits, the fingerprint 7 bits below
	 * them; the ring (reduce) takes the top bits too, so flows that share a
	 * bucket share a backend, which costs nothing.  How many top bits: the
	 * table's size, chosen at attach (a slot past the maps' end, from a
	 * config that disagrees with them, finds no tags: untracked). */
	__u32 log2 = (cfg->flags >> CFG_FLOW_LOG2_SHIFT) & CFG_FLOW_LOG2_MASK;

	if (!log2)
		log2 = FLOW_SLOTS_LOG2;
	__u32 bucket = flow_bucket(hash, log2); /* first of its 2 ways */
	__u32 tag_idx = bucket / FLOW_TAGS_PER_ENTRY;
	struct flow_tags *tags = bpf_map_lookup_elem(&flow_tags, &tag_idx);
	int syn = iph->protocol == IPPROTO_TCP &&
		  (tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;

	miss->tag = NULL;
	miss->pick = NULL;
	miss->check = 0; /* a flow the table does not hold: computed below, off the hit path */
	miss->slot = 0; /* defined on every path: the verifier reads what the compiler stores */
	miss->syn = syn;
	miss->stat = FLOW_UNTRACKED;
	miss->fp = flow_fp(fp_bits(hash, log2));
	if (!tags)
		return NULL;
	__u8 fp = miss->fp;
	__u8 *tg = &tags->t[bucket & (FLOW_TAGS_PER_ENTRY - 2)];
	__u8 t0 = tg[0], t1 = tg[1];
	__u32 way = 2;
	struct flow *f = NULL;

	if (t0 == fp)
		f = flow_find(bucket, iph, ports);
	if (f)
		way = 0;
	else if (t1 == fp && (f = flow_find(bucket + 1, iph, ports)))
		way = 1;
	if (f) {
		miss->stat = FLOW_REUSED;
		if (!syn || f->state == FLOW_TCP_SYN) {
			struct backend *be = flow_hit(f, now, backend_idx, syn);

			if (be) {
				__u8 next = tcp_next_state(f->state, tcp_flags);

				if (iph->protocol == IPPROTO_TCP && next != f->state)
					f->state = next;
				return be;
			}
			miss->stat = FLOW_STALE;
		}
	} else {
		miss->check = flow_check4(iph->saddr, *(__u32 *)ports);
		way = pending_way(&flow_picks, t0, t1, fp, miss->check, bucket, &miss->pick);
		if (way < 2)
			miss->stat = FLOW_STORED;
		else if ((way = first_way(t0, t1, bucket, cfg, now)) < 2)
			miss->stat = FLOW_NEW;
	}
	if (way < 2) {
		miss->tag = &tg[way];
		miss->slot = bucket + way;
	}
	return NULL;
}

/* The backend a pending flow's first packet went to (its pick), if the pick
 * is fresh and its backend still a member of the service (and, for a
 * repeated SYN, still taking new connections): its second packet goes there
 * too, whatever the ring says now.  Shared with the IPv6 table. */
static __always_inline struct backend *picked_backend(__u16 pick, __u32 syn, __u32 svc_id,
						      __u32 half, __u32 now, __u32 *backend_idx)
{
	if (!pick_fresh(pick, now))
		return NULL;
	*backend_idx = pick & (MAX_BACKENDS - 1);
	struct backend *be = bpf_map_lookup_elem(&backends, backend_idx);

	if (!be || !is_member(be, svc_id, half) || (syn && !is_serving(be, half)))
		return NULL;
	return be;
}

static __always_inline struct backend *flow_pick(struct flow_miss *miss, __u32 svc_id,
						 __u32 half, __u32 now, __u32 *backend_idx)
{
	if (!miss->pick)
		return NULL;
	return picked_backend((__u16)*miss->pick, miss->syn, svc_id, half, now, backend_idx);
}

static __always_inline void flow_store(__u32 slot, struct iphdr *iph, struct ports *ports,
				       __u8 tcp_flags, __u32 now, __u32 svc_id,
				       __u32 backend_idx, __be32 backend_ip)
{
	struct flow *f = bpf_map_lookup_elem(&flows, &slot);

	if (!f)
		return;
	f->saddr = iph->saddr;
	f->daddr = iph->daddr;
	f->sport = ports->src;
	f->dport = ports->dst;
	f->proto = iph->protocol;
	f->state = iph->protocol == IPPROTO_TCP ? tcp_next_state(FLOW_TCP_SYN, tcp_flags)
						 : FLOW_UDP;
	f->backend = backend_idx;
	f->backend_ip = backend_ip;
	f->seen = now;
	f->svc_id = svc_id;
}

/* Record a flow the table did not hold, now that its backend is chosen: a
 * first packet marks its way and notes its pick, any other stores the entry. */
static __always_inline void flow_record(struct flow_miss *miss, struct iphdr *iph,
					struct ports *ports, __u8 tcp_flags, __u32 now,
					__u32 svc_id, __u32 backend_idx, __be32 backend_ip)
{
	__u8 *tag = miss->tag;

	flow_count(miss->stat);
	if (!tag)
		return;
	if (miss->stat == FLOW_NEW) {
		note_pick(&flow_picks, miss->slot, backend_idx, now, miss->check);
		*tag = miss->fp | FLOW_TAG_PENDING;
		return;
	}
	flow_store(miss->slot, iph, ports, tcp_flags, now, svc_id, backend_idx, backend_ip);
	*tag = miss->fp;
}

/* For a reader that only looks (an ICMP error's flow, l4lb_icmp.h): the two
 * tags of a flow's bucket in `tags_map` (a table of 2^log2 slots, 0: the
 * default `dflt`), its first slot and its fingerprint; NULL past the map. */
static __always_inline __u8 *bucket_tags(void *tags_map, __u32 log2, __u32 dflt, __u32 hash,
					 __u32 *bucket, __u8 *fp)
{
	if (!log2)
		log2 = dflt;
	*bucket = flow_bucket(hash, log2);
	*fp = flow_fp(fp_bits(hash, log2));
	__u32 tag_idx = *bucket / FLOW_TAGS_PER_ENTRY;
	struct flow_tags *tags = bpf_map_lookup_elem(tags_map, &tag_idx);

	return tags ? &tags->t[*bucket & (FLOW_TAGS_PER_ENTRY - 2)] : NULL;
}
#endif

#endif
