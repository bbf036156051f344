/* Sizes and reason codes shared by the data plane and (mirrored in
 * l4lb_tui/layout.py) the control plane.  Change both together. */
#ifndef L4LB_CONSTS_H
#define L4LB_CONSTS_H

#define MAX_SERVICES 512
#define MAX_BACKENDS 4096

/* Each service owns two rings (double buffering: the control plane writes the
 * idle one, then flips the service entry with one map write).  A ring is up to
 * RING_CHUNKS chunks of CHUNK_SLOTS slots; chunking cuts the number of map
 * writes per reload by CHUNK_SLOTS. */
#define CHUNK_SLOTS 64
#define RING_CHUNKS 256 /* 16384 slots: room for the 16381-slot Maglev prime */
#define RING_MAX_SLOTS (CHUNK_SLOTS * RING_CHUNKS)
#define RING_MAP_CHUNKS (MAX_SERVICES * 2 * RING_CHUNKS)

#define IPIP_TTL 64

/* VIP filter: a 65536-bit Bloom-style bitmap (one bit per VIP) checked with
 * one inlined array lookup, so traffic to other addresses costs no hash-map
 * lookup.  A bit set by another VIP (at most 512 of 65536) only sends the
 * packet down the exact path, which then passes it. */
#define VIP_FILTER_ENTRIES 16 /* split so one bpftool batch line holds an entry */
#define VIP_FILTER_WORDS 64

/* Flow table: a direct-mapped array indexed by the 5-tuple hash (2^20 entries,
 * 32 bytes each: 32 MiB).  Array lookups are inlined by the verifier, which
 * keeps an established flow far cheaper than a hash-map lookup would.  A new
 * flow never evicts an entry that is still alive; it is then balanced by the
 * ring alone, which only matters if the ring changes during its life. */
#define FLOW_SLOTS_LOG2 20
#define FLOW_SLOTS (1u << FLOW_SLOTS_LOG2)
/* Lifetimes (config.ttl_*, in jiffies: the verifier inlines bpf_jiffies64,
 * a clock that costs no helper call) default to IPVS's: 900 s TCP, 300 s UDP.
 * The last-seen stamp is refreshed at most every FLOW_REFRESH_SHIFT-th
 * power of two jiffies, so a busy flow costs one store a few times a second. */
#define FLOW_REFRESH_JIFFIES 64

/* flow_stats indices */
enum flow_stat {
	FLOW_HIT = 0,        /* established flow: backend from the flow table */
	FLOW_MISS,           /* new flow: backend from the ring, entry written */
	FLOW_STALE,          /* entry named a backend no longer in the service */
	FLOW_UNTRACKED,      /* slot held by another live flow: ring only */
	FLOW_STAT_MAX,
};

/* svc_val.flags */
#define SVC_FILL_MAGLEV 1

/* backend.flags */
#define BE_DRAINING 1

/* config.flags */
#define CFG_CATCH_ALL 1 /* seed behaviour: every TCP/UDP packet is balanced */

/* Reason counters.  Every verdict other than XDP_TX of a balanced packet is
 * counted under exactly one of these; balanced packets are counted per
 * backend instead, which saves a second counter write on the hot path. */
enum reason {
	R_PASS_NOT_IPV4 = 0, /* ARP, IPv6, VLAN-tagged, other ethertypes */
	R_PASS_NOT_VIP,      /* IPv4 to an address that is not a service VIP */
	R_PASS_FRAGMENT,     /* IPv4 fragment to a VIP: no ports to hash */
	R_PASS_IP_OPTIONS,   /* IHL > 5 to a VIP */
	R_PASS_NOT_TCP_UDP,  /* ICMP and other protocols to a VIP */
	R_PASS_NO_SERVICE,   /* VIP matched, but no service for this port/proto */
	R_DROP_TRUNCATED,    /* frame ends inside a header we must read */
	R_DROP_MALFORMED,    /* bad IHL, version, or total length */
	R_DROP_NO_BACKEND,   /* service has no usable backend */
	R_DROP_ADJUST_HEAD,  /* no headroom for the outer header */
	R_ICMP_FRAG_NEEDED,  /* too big once encapsulated, DF set: ICMP sent back */
	R_DROP_TOO_BIG,      /* too big once encapsulated, DF clear: cannot fragment */
	R_MAX,
};

#endif
