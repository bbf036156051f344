/* Not a program: the data plane's constants as enums in this object's BTF,
 * for tests/unit/test_abi.py, which compares them with the control plane's
 * mirror (l4lb_tui/abi.py).  Built with the others, never loaded. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"

enum l4lb_abi {
	ABI_LAYOUT_VERSION = L4LB_LAYOUT_VERSION,
	ABI_MAX_SERVICES = MAX_SERVICES,
	ABI_MAX_BACKENDS = MAX_BACKENDS,
	ABI_SVC_BUCKET = SVC_BUCKET,
	ABI_SVC_BUCKETS_LOG2 = SVC_BUCKETS_LOG2,
	ABI_SVC_USED = SVC_USED,
	ABI_SVC_VIP = SVC_VIP,
	ABI_SVC_FILL_MAGLEV = SVC_FILL_MAGLEV,
	ABI_CHUNK_SLOTS = CHUNK_SLOTS,
	ABI_RING_CHUNKS_LOG2 = RING_CHUNKS_LOG2,
	ABI_CFG_CATCH_ALL = CFG_CATCH_ALL,
	ABI_FLOW_SLOTS_LOG2 = FLOW_SLOTS_LOG2,
	ABI_VIP_FILTER_ENTRIES = VIP_FILTER_ENTRIES,
	ABI_VIP_FILTER_WORDS = VIP_FILTER_WORDS,
	ABI_FLOW_STATE_SLOTS = FLOW_STATE_SLOTS,
	ABI_CFG_FLOW_LOG2_SHIFT = CFG_FLOW_LOG2_SHIFT,
	ABI_CFG_FLOW_LOG2_MASK = CFG_FLOW_LOG2_MASK,
	ABI_FLOW_TAGS_PER_ENTRY = FLOW_TAGS_PER_ENTRY,
	ABI_FLOW_PICKS_PER_ENTRY = FLOW_PICKS_PER_ENTRY,
	ABI_FLOW_LOG2_MAX = FLOW_LOG2_MAX,
	ABI_SVC6_BUCKET = SVC6_BUCKET,
	ABI_SVC6_BUCKETS_LOG2 = SVC6_BUCKETS_LOG2,
	ABI_FLOW6_SLOTS_LOG2 = FLOW6_SLOTS_LOG2,
	ABI_CFG_FLOW6_LOG2_SHIFT = CFG_FLOW6_LOG2_SHIFT,
	ABI_CFG_FLOW6_LOG2_MASK = CFG_FLOW6_LOG2_MASK,
	ABI_FLOW6_STAT_BASE = FLOW6_STAT_BASE,
	ABI_IP6_HOP_LIMIT = IP6_HOP_LIMIT,
};

/* Globals make the compiler describe each enum in the BTF. */
enum l4lb_abi abi_consts SEC(".abi");
enum reason abi_reasons SEC(".abi");
enum flow_stat abi_flow_stats SEC(".abi");
enum flow_state abi_flow_states SEC(".abi");
