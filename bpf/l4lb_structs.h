/* Map keys and values.  Layouts are mirrored byte for byte in
 * l4lb_tui/abi.py; keep explicit padding so both sides agree. */
#ifndef L4LB_STRUCTS_H
#define L4LB_STRUCTS_H

#include <linux/types.h>
#include "l4lb_consts.h"

struct config {
	__be32 saddr;      /* outer IPIP source */
	__u8 ifmac[6];     /* Ethernet source of balanced frames */
	__u16 flags;       /* CFG_* */
	__u32 mtu;         /* interface MTU: larger encapsulated packets get ICMP */
	__u32 version;     /* L4LB_LAYOUT_VERSION of the build that made the maps */
	__u32 ttl[FLOW_STATE_SLOTS]; /* idle lifetime of a flow entry by its state, jiffies */
};

struct vip_filter {
	__u64 w[VIP_FILTER_WORDS];
};

/* svc_index slot: where a service key lives.  A slot is written whole only
 * when it was empty (and emptied before reuse), so a reader that catches one
 * half-written sees a key that does not match or id 0: no service yet.
 * Each VIP also has a marker slot, key (VIP, port 0, protocol 0) with
 * SVC_VIP and id 0: the exact "is this address a VIP" the rare paths ask. */
struct svc_slot {
	__be32 vip;
	__be16 port;       /* 0: any port */
	__u8 proto;        /* IPPROTO_TCP or IPPROTO_UDP; 0 with vip 0: catch-all */
	__u8 flags;        /* SVC_USED, SVC_FILL_* */
	__u32 id;          /* index into svc_live */
};

/* svc_live[id]: the live ring and generation of a service.  A reload's flip
 * is the one write of this entry: ring_chunk and ring_size share an aligned
 * 8-byte word, which the data plane reads with one load and the kernel's
 * copy writes with one store, so the two always belong to the same ring.
 * Which of the service's two rings is live (its half, bit RING_CHUNKS_LOG2 of
 * ring_chunk) also says which half of each backend entry is live. */
struct svc_live {
	__u32 ring_chunk;  /* first chunk of the live ring in the rings map */
	__u32 ring_size;   /* live slots; 0 means no backend */
	__u32 gen;         /* reloads so far (0: no such service) */
	__u32 pad;
};

struct ring_chunk {
	__u32 backend[CHUNK_SLOTS];
};

/* A backend belongs to exactly one service, so its counters are per service
 * (as ipvsadm shows them).  Its membership, weight and drains are kept once for
 * each of the service's two rings: a reload writes only the idle ring's half
 * (of every entry it must change), then flips svc_live, so membership changes
 * with that one map write; a reload stopped anywhere before the flip leaves
 * the live half exactly as it was, and the next reload writes the idle half
 * whole again.  The balancing path reads ip and mac; the flow table also
 * checks svc_id and the live half's member bit (a drained backend stays a
 * member and keeps its flows; a removed one loses them at once). */
struct backend {
	__be32 ip;
	__u8 mac[6];
	__u16 weight[2];   /* per half: the weight its ring was filled with */
	__u16 svc_id;
	__u8 member;       /* bit h: a member of svc_id while ring half h is live */
	__u8 drained;      /* bit h: drained by an operator in half h (weight kept for undrain) */
	__u8 down;         /* bit h: drained by the health checker in half h */
	__u8 pad;
};

/* One flow-table slot.  proto 0: never used. */
struct flow {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 state;        /* enum flow_state */
	__u16 pad;
	__u32 backend;     /* index into backends */
	__be32 backend_ip; /* catches a backend slot reused by another server */
	__u32 seen;        /* jiffies (low 32 bits) of the last refresh */
	__u32 svc_id;      /* whose live half validates the entry (svc_live) */
};

struct flow_tags {
	__u8 t[FLOW_TAGS_PER_ENTRY]; /* 0 or FLOW_TAG_PENDING: seen once; else stored */
};

/* The backend each pending way's flow was sent to by its first packet. */
/* A pending flow's pick (pick_of) in the low half, a 16-bit check of the
 * flow in the high (flow_check4, flow6_check), so another flow's first
 * packet meeting a pending mark of its fingerprint is told apart: the 7-bit
 * tag alone took it for the marked flow's second packet one time in 127,
 * and a flood of one-packet flows stored that share of itself. */
struct flow_picks {
	__u32 b[FLOW_PICKS_PER_ENTRY];
};

struct counters {
	__u64 pkts;
	__u64 bytes;
};

/* IPv6: the outer source of ip6ip6 (one entry, set at attach). */
struct config6 {
	__u8 saddr6[16];
};

/* svc6 slot: a v6 service, or a VIP's marker (port 0, protocol 0, SVC_VIP,
 * id 0).  Written whole only when empty (and emptied before reuse), as
 * svc_index's: a reader that meets a half-written slot finds id 0. */
struct svc6_slot {
	__u8 vip[16];
	__be16 port;       /* 0: any port */
	__u8 proto;
	__u8 flags;        /* SVC_USED, SVC_VIP, SVC_FILL_* */
	__u32 id;          /* index into svc_live */
	__u32 pad[2];
};

/* backend6[i]: the address of the v6 backend in backends[i], whose ip holds
 * this address's 32-bit fold (addr6_fold; 1 for a fold of 0). */
struct backend6 {
	__u8 ip6[16];
};

/* One v6 flow-table slot, one cache line.  proto 0: empty. */
struct flow6 {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 state;        /* enum flow_state */
	__u16 pad;
	__u32 backend;     /* index into backends (and backend6) */
	__be32 backend_ip; /* the backend's fold: catches a slot reused by another server */
	__u32 seen;        /* jiffies (low 32 bits) of the last refresh */
	__u32 svc_id;
	__u32 pad2[2];
};

#endif
