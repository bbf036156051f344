/* Sizes and reason codes shared by the data plane and (mirrored in
 * l4lb_tui/abi.py) the control plane.  Change both together. */
#ifndef L4LB_CONSTS_H
#define L4LB_CONSTS_H

/* Bumped with every change of a map's layout: pins made by another layout
 * are refused (config.version), not misread. */
#define L4LB_LAYOUT_VERSION 10

#define MAX_SERVICES 512 /* service ids 1..MAX_SERVICES; 0 means none */
#define MAX_BACKENDS 4096

/* Service lookup: a direct-mapped array (svc_index) of buckets of SVC_BUCKET
 * slots, one cache line each, indexed by a hash of (VIP, port, protocol).  An
 * inlined array lookup and a compare cost a few ns where a hash-map lookup
 * costs ~30.  A load the control plane must refuse needs 5 services hashed to
 * one bucket: about 1 in 15,000 tables of 512 services, 1 in 10^8 of 100. */
#define SVC_BUCKET 4
#define SVC_BUCKETS_LOG2 13
#define SVC_BUCKETS (1u << SVC_BUCKETS_LOG2)
#define SVC_SLOTS (SVC_BUCKETS * SVC_BUCKET)

/* Each service owns two rings (double buffering: the control plane writes the
 * idle one, then flips the service entry with one map write).  A ring is up to
 * RING_CHUNKS chunks of CHUNK_SLOTS slots; chunking cuts the number of map
 * writes per reload by CHUNK_SLOTS. */
#define CHUNK_SLOTS 64
#define RING_CHUNKS_LOG2 8
#define RING_CHUNKS (1u << RING_CHUNKS_LOG2) /* 16384 slots: room for the 16381-slot Maglev prime */
#define RING_MAX_SLOTS (CHUNK_SLOTS * RING_CHUNKS)
#define RING_MAP_CHUNKS (MAX_SERVICES * 2 * RING_CHUNKS) /* service id n: rings 2(n-1), 2(n-1)+1 */

#define IPIP_TTL 64

/* VIP filter: a 65536-bit Bloom-style bitmap (one bit per VIP) checked with
 * one inlined array lookup, so traffic to other addresses costs no hash-map
 * lookup.  A bit set by another VIP (at most 512 of 65536) only sends the
 * packet down the exact path, which then passes it. */
#define VIP_FILTER_ENTRIES 16 /* split so one bpftool batch line holds an entry */
#define VIP_FILTER_WORDS 64

/* Flow table: a direct-mapped array indexed by the 5-tuple hash (2^19
 * entries of 32 bytes: 16 MiB), and in front of it a 512 KiB array of
 * one-byte tags: a 7-bit fingerprint of the flow stored in that slot, or the
 * fingerprint with FLOW_TAG_PENDING for a flow seen once and not stored.  A
 * random slot of 16 MiB misses the caches and the TLB (~100 ns to read, as
 * much to write); the tags mostly stay in L2.  So a flow's first packet
 * reads and writes only its tag and its pick (the backend the ring chose for
 * it and a check of the flow, in flow_picks, 2 MiB), its second packet (its
 * tag marked, its check in the pick) writes the entry with that
 * pick, and later ones read it: single-packet flows (SYN floods, scans, most
 * DNS) never touch the big table, and a flow's second packet goes where its
 * first went even if the backend set changed in between.  A slot that stores
 * a live flow is that flow's until it expires: a new flow meeting it (one
 * read of the entry) goes by the ring alone, untracked; but a SYN that meets
 * its own 5-tuple's entry opens a new connection and takes the slot over.
 * Measured (BENCHMARKS.md): a 1 MiB tag array cost new flows 20-70 ns more
 * than this one. */
#define FLOW_SLOTS_LOG2 19 /* the maps' size in the object; the operator's at attach */
#define FLOW_SLOTS (1u << FLOW_SLOTS_LOG2)
#define FLOW_TAGS_PER_ENTRY 64 /* one cache line of tags per array entry */
#define FLOW_TAG_ENTRIES (FLOW_SLOTS / FLOW_TAGS_PER_ENTRY)
#define FLOW_TAG_PENDING 0x80
#define FLOW_PICKS_PER_ENTRY 16 /* one cache line of 32-bit picks (a pick and a check) */
#define FLOW_PICK_ENTRIES (FLOW_SLOTS / FLOW_PICKS_PER_ENTRY)
#define FLOW_PICK_CHECK_MASK 0xffff0000u /* a pick's check: its high half */
/* A pick is the backend index (12 bits: MAX_BACKENDS) and, above it, when it
 * was made: the jiffies clock in units of 2^FLOW_PICK_EPOCH_SHIFT (131 s at
 * HZ 250, 33 s at HZ 1000), 4 bits.  A pick is trusted for the epoch it was
 * made in and the next: long enough for a handshake whose SYN-ACK was lost
 * and resent a few times (1, 2, 4, 8 s...), short of the 4-bit wrap. */
#define FLOW_PICK_INDEX_BITS 12
#define FLOW_PICK_EPOCH_SHIFT 15
/* The last-seen stamp (jiffies: the verifier inlines bpf_jiffies64, a clock
 * that costs no helper call) is refreshed at most every FLOW_REFRESH_JIFFIES,
 * so a busy flow costs one store a few times a second.  How long an idle
 * entry holds its slot depends on its state (config.ttl[state]). */
#define FLOW_REFRESH_JIFFIES 64

/* flow.state: what the balancer has seen of the connection (one direction:
 * replies go straight from the backend).  Lifetimes default to IPVS's. */
enum flow_state {
	FLOW_TCP_EST = 0, /* 900 s */
	FLOW_TCP_SYN,     /* stored by a (retransmitted) SYN: 60 s, IPVS's SYN_RECV */
	FLOW_TCP_FIN,     /* the client sent FIN: 120 s, IPVS's FIN_WAIT */
	FLOW_TCP_RST,     /* the client sent RST: 10 s, IPVS's CLOSE */
	FLOW_UDP,         /* 300 s */
	FLOW_STATES,
};
#define FLOW_STATE_SLOTS 8 /* config.ttl: a power of two, so a mask bounds the index */

/* flow_stats indices */
enum flow_stat {
	FLOW_HIT = 0,        /* established flow: backend from the flow table */
	FLOW_NEW,            /* first packet of a flow: ring; its tag and pick are written */
	FLOW_STALE,          /* entry named a backend no longer a member: ring, rewritten */
	FLOW_STORED,         /* second packet: its pick (or the ring), entry written */
	FLOW_UNTRACKED,      /* slot stores another live flow: ring only */
	FLOW_REUSED,         /* a SYN met its 5-tuple's old entry: ring, slot taken over */
	FLOW_STAT_MAX,
};
/* flow_stats holds IPv4's outcomes, then IPv6's at FLOW6_STAT_BASE + the
 * same index: each table's untracked rate is its own. */
#define FLOW6_STAT_BASE FLOW_STAT_MAX
#define FLOW_STATS_ENTRIES (2 * FLOW_STAT_MAX)

/* svc_slot.flags */
#define SVC_FILL_MAGLEV 1 /* how the control plane fills the ring */
#define SVC_USED 0x80
#define SVC_VIP 0x40 /* a VIP's marker slot: key (VIP, 0, 0), id 0 */
#define SVC_KEY_MASK 0x80ffffffffffffffULL /* svc_slot's first word without SVC_FILL_* */


/* config.flags */
#define CFG_CATCH_ALL 1 /* seed behaviour: every TCP/UDP packet is balanced */
/* Bits 8..12 of config.flags: log2 of the flow table's slots, the size the
 * operator chose at attach (the control plane creates the three flow maps
 * with it before loading).  0 reads as FLOW_SLOTS_LOG2, the maps' size in
 * this object: what pins made before sizing existed hold. */
#define CFG_FLOW_LOG2_SHIFT 8
#define CFG_FLOW_LOG2_MASK 0x1f
/* Bits 1..5: the same for the IPv6 flow table (flows6), sized on its own
 * (`--flows6`); 0 reads as FLOW6_SLOTS_LOG2. */
#define CFG_FLOW6_LOG2_SHIFT 1
#define CFG_FLOW6_LOG2_MASK 0x1f
#define FLOW_LOG2_MAX 26 /* the largest table: 2^26 slots */
#define FLOW_FP_SHIFT_TOP (FLOW_LOG2_MAX) /* fp_bits: 32 - 6 (the fingerprint's 7 bits, less the way bit) */

/* Reason counters.  Every verdict other than XDP_TX of a balanced packet is
 * counted under exactly one of these; balanced packets are counted per
 * backend instead, which saves a second counter write on the hot path. */
enum reason {
	R_PASS_NOT_IPV4 = 0, /* ARP, other ethertypes (and IPv6 in the offload build) */
	R_PASS_NOT_VIP,      /* IPv4 or IPv6 to an address that is not a service VIP */
	R_PASS_FRAGMENT,     /* fragment (IPv4, or IPv6's fragment header) to a VIP: no ports */
	R_PASS_IP_OPTIONS,   /* IHL > 5 to a VIP */
	R_PASS_NOT_TCP_UDP,  /* ICMP and other protocols to a VIP */
	R_PASS_NO_SERVICE,   /* VIP matched, but no service for this port/proto */
	R_DROP_TRUNCATED,    /* frame ends inside a header we must read */
	R_DROP_MALFORMED,    /* bad IHL, version, or total length */
	R_DROP_NO_BACKEND,   /* service has no usable backend */
	R_DROP_ADJUST_HEAD,  /* no headroom for the outer header */
	R_ICMP_FRAG_NEEDED,  /* too big once encapsulated, DF set: ICMP sent back */
	R_DROP_TOO_BIG,      /* too big once encapsulated, DF clear: cannot fragment */
	R_PASS_VLAN,         /* an 802.1Q/802.1ad tag in the frame: not our network's */
	R_PASS_IPV6_EXT,     /* IPv6 to a VIP with an extension header before TCP/UDP */
	R_ICMP6_TOO_BIG,     /* IPv6 too big once encapsulated: ICMPv6 Packet Too Big sent */
	R_ICMP_TO_BACKEND,   /* frag needed / Packet Too Big about a flow: sent to its backend */
	R_MAX,
	R_BALANCE = R_MAX,   /* not a verdict: the packet goes on to be balanced */
	R_IPV6,              /* not a verdict: an IPv6 frame, for the v6 path (l4lb_v6.h) */
};

/* The reasons whose verdict is XDP_DROP (the others pass, but for
 * R_ICMP_FRAG_NEEDED, R_ICMP6_TOO_BIG and R_ICMP_TO_BACKEND, whose packets
 * go out with XDP_TX). */
#define R_DROPS                                                                    \
	((1u << R_DROP_TRUNCATED) | (1u << R_DROP_MALFORMED) | (1u << R_DROP_NO_BACKEND) | \
	 (1u << R_DROP_ADJUST_HEAD) | (1u << R_DROP_TOO_BIG))

/* IPv6 (ARCHITECTURE.md, "IPv6 in the data plane").  svc6 holds each v6
 * service's key and each v6 VIP's marker, direct-mapped as svc_index: buckets
 * of SVC6_BUCKET 32-byte slots (two cache lines; the first slot answers
 * almost every lookup), indexed by a hash of (the VIP's fold, port,
 * protocol).  2^13 buckets: a load the control plane must refuse (5 keys in
 * one bucket) is about 1 in 550 tables of 512 services on 512 VIPs, 1 in
 * 1.7 million of 100 services on 100 VIPs.  flows6 is the v6 flow table, two ways per bucket of
 * 64-byte entries (2^16: 4 MiB), behind a byte of tag and four of pick a
 * slot (flow6_tags 64 KiB, flow6_picks 256 KiB), as IPv4's (l4lb_flow6.h). */
#define SVC6_BUCKET 4
#define SVC6_BUCKETS_LOG2 13
#define SVC6_SLOTS ((1u << SVC6_BUCKETS_LOG2) * SVC6_BUCKET)
#define SVC6_FLAGS_MASK 0xc0ffffffu /* svc6_slot's port..flags word without SVC_FILL_* */
#define FLOW6_SLOTS_LOG2 16
#define FLOW6_SLOTS (1u << FLOW6_SLOTS_LOG2)
#define FLOW6_TAG_ENTRIES (FLOW6_SLOTS / FLOW_TAGS_PER_ENTRY)
#define FLOW6_PICK_ENTRIES (FLOW6_SLOTS / FLOW_PICKS_PER_ENTRY)
#define IP6_HOP_LIMIT 64

#endif
