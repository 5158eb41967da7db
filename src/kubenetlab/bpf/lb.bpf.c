// SPDX-License-Identifier: GPL-2.0
/* kubenetlab's eBPF service load balancer: the mechanics of Cilium's kube-proxy
 * replacement (cilium/cilium bpf/bpf_sock.c, bpf/lib/nodeport.h, lb.h, dsr.h),
 * written small for the lab.
 *
 *  - Socket LB (east-west): cgroup connect4/sendmsg4 translate a Service address to a
 *    backend before the socket uses it, recvmsg4/getpeername4 translate it back. No
 *    packet is ever rewritten, so no conntrack or NAT entry exists for ClusterIP.
 *  - NodePort (north-south), tc ingress of the node's uplink: service lookup, backend
 *    choice (random or Maglev), then
 *      local backend:  DNAT; replies are translated back at the pod's veth;
 *      snat mode:      SNAT to the node + DNAT; replies come back through this node;
 *      dsr mode:       DNAT with the service address in IPv4 option 0x9a on the SYN
 *                      (and every UDP datagram); the backend's node translates the
 *                      replies' source and sends them straight to the client.
 *    Forwarded packets leave through a FIB lookup and a redirect (as Cilium), so the
 *    node's netfilter never sees them.
 *
 * Maps are filled from user space (kubenetlab.proxy.ebpf); their layouts are mirrored
 * there with struct formats.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define AF_INET 2
#define IP_HLEN 20
#define IP_CSUM_OFF (ETH_HLEN + 10)
#define IP_TTL_OFF (ETH_HLEN + 8)
#define IP_SRC_OFF (ETH_HLEN + 12)
#define IP_DST_OFF (ETH_HLEN + 16)
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

#define DSR_OPT_TYPE 0x9a /* copy bit | 26, as Cilium's DSR_IPV4_OPT_TYPE */
#define DSR_OPT_LEN 8

#define MAGLEV_M 16381 /* Cilium's default maglev.tableSize */

#define SCOPE_EXTERNAL 0 /* every ready backend */
#define SCOPE_LOCAL 1    /* this node's ready backends (externalTrafficPolicy: Local) */

#define SVC_F_LOCAL 1    /* north-south uses SCOPE_LOCAL */
#define SVC_F_MAGLEV 2   /* north-south picks by Maglev */
#define BE_F_LOCAL 1     /* the backend runs on this node */

#define HOW_LOCAL 0 /* a backend on this node: DNAT only */
#define HOW_DSR 1
#define HOW_SNAT 2

#define MODE_SNAT 0
#define MODE_DSR 1
#define MODE_HYBRID 2

/* One key for a service's master entry (slot 0) and each backend slot (1..count). */
struct lb4_key {
	__be32 address;
	__be16 dport;
	__u16 slot;
	__u8 proto;
	__u8 scope;
	__u8 pad[2];
};

/* slot 0: count, flags, svc_id; slot n: the backend's address, port and flags. */
struct lb4_entry {
	__be32 address;
	__be16 port;
	__u16 count;
	__u8 flags;
	__u8 pad[3];
	__u32 svc_id;
};

struct flow4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct ct_entry { /* the load-balancing node's flow state */
	__be32 backend;
	__be16 backend_port;
	__be16 nat_port; /* snat mode: the node's source port towards the backend */
	__u8 how;        /* HOW_LOCAL, HOW_DSR or HOW_SNAT */
	__u8 pad[3];
};

struct rev_entry { /* how to turn a reply back into what the client expects */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
};

struct sock_key {
	__u64 cookie;
	__be32 address;
	__be16 port;
	__u16 pad;
};

struct sock_rev {
	__be32 address;
	__be16 port;
	__u16 pad;
};

struct lb_config {
	__u32 mode;
	__be32 node_ip;
};

struct maglev_table {
	__u32 slot[MAGLEV_M];
};

enum stat_index {
	STAT_SOCK_XLATE,      /* socket-LB translations */
	STAT_SOCK_NO_BACKEND, /* connect() refused: no backend */
	STAT_NP_FORWARD,      /* NodePort packets sent to a backend */
	STAT_NP_NO_BACKEND,   /* NodePort packets dropped: no (local) backend */
	STAT_DSR_OPT_ADDED,   /* option 0x9a written */
	STAT_DSR_OPT_SEEN,    /* option 0x9a read on a backend's node */
	STAT_DSR_TOO_BIG,     /* dropped: no room for the 8 option bytes under the MTU */
	STAT_REV_XLATE,       /* replies translated back */
	STAT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct lb4_key);
	__type(value, struct lb4_entry);
} lb4_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct maglev_table);
} lb4_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow4);
	__type(value, struct ct_entry);
} lb4_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow4);
	__type(value, struct rev_entry);
} lb4_rev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sock_key);
	__type(value, struct sock_rev);
} lb4_sock_rev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_config);
} lb4_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lb4_stats SEC(".maps");

static __always_inline void count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&lb4_stats, &index);

	if (value)
		*value += 1;
}

static __always_inline struct lb_config *lb_config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&lb4_config, &zero);
}

static __always_inline struct lb4_entry *lookup_slot(__be32 addr, __be16 port, __u8 proto,
						     __u8 scope, __u16 slot)
{
	struct lb4_key key = {
		.address = addr, .dport = port, .slot = slot, .proto = proto, .scope = scope};

	return bpf_map_lookup_elem(&lb4_services, &key);
}

/* A service's master entry: slot 0 (count, flags, id). */
static __always_inline struct lb4_entry *lookup_service(__be32 addr, __be16 port, __u8 proto,
							__u8 scope)
{
	return lookup_slot(addr, port, proto, scope, 0);
}

/* ---- socket LB (east-west) ---------------------------------------------------- */

static __always_inline int sock4_xlate(struct bpf_sock_addr *ctx, __u8 proto)
{
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;
	struct lb4_entry *svc, *be;
	struct sock_key rkey = {};
	struct sock_rev rval = {};
	__u32 pick;

	svc = lookup_service(addr, port, proto, SCOPE_EXTERNAL);
	if (!svc)
		return 1;
	if (svc->count == 0) {
		count(STAT_SOCK_NO_BACKEND);
		return 0; /* connect()/sendmsg() fail at once, as Cilium's SYS_REJECT */
	}
	/* TCP: random per connection; UDP: per socket, so a socket's datagrams stay together */
	pick = proto == IPPROTO_TCP ? bpf_get_prandom_u32() : (__u32)bpf_get_socket_cookie(ctx);
	be = lookup_slot(addr, port, proto, SCOPE_EXTERNAL, (__u16)(pick % svc->count) + 1);
	if (!be)
		return 1;
	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.address = be->address;
	rkey.port = be->port;
	rval.address = addr;
	rval.port = port;
	bpf_map_update_elem(&lb4_sock_rev, &rkey, &rval, BPF_ANY);
	ctx->user_ip4 = be->address;
	ctx->user_port = (__u32)be->port;
	count(STAT_SOCK_XLATE);
	return 1;
}

static __always_inline void sock4_rev(struct bpf_sock_addr *ctx)
{
	struct sock_key key = {};
	struct sock_rev *rev;

	key.cookie = bpf_get_socket_cookie(ctx);
	key.address = ctx->user_ip4;
	key.port = (__be16)ctx->user_port;
	rev = bpf_map_lookup_elem(&lb4_sock_rev, &key);
	if (rev) {
		ctx->user_ip4 = rev->address;
		ctx->user_port = (__u32)rev->port;
	}
}

SEC("cgroup/connect4")
int sock4_connect(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return 1;
	return sock4_xlate(ctx, (__u8)ctx->protocol);
}

SEC("cgroup/sendmsg4")
int sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock4_xlate(ctx, IPPROTO_UDP);
}

SEC("cgroup/recvmsg4")
int sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	sock4_rev(ctx);
	return 1;
}

SEC("cgroup/getpeername4")
int sock4_getpeername(struct bpf_sock_addr *ctx)
{
	sock4_rev(ctx);
	return 1;
}

/* ---- packets (north-south) ------------------------------------------------------ */

struct pkt {
	struct flow4 flow;
	__u32 l4_off;
	__u32 csum_off;
	__u8 ihl;
	__u8 tcp_flags;
	__u16 tot_len;
};

static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
	struct iphdr ip;
	__be16 ports[2];

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return -1;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return -1;
	if (ip.ihl < 5 || (ip.frag_off & bpf_htons(0x3fff)))
		return -1; /* fragments carry no ports: leave them to the stack */
	if (ip.protocol != IPPROTO_TCP && ip.protocol != IPPROTO_UDP)
		return -1;
	p->ihl = ip.ihl;
	p->tot_len = bpf_ntohs(ip.tot_len);
	p->l4_off = ETH_HLEN + ip.ihl * 4;
	p->csum_off = p->l4_off + (ip.protocol == IPPROTO_TCP ? 16 : 6);
	if (bpf_skb_load_bytes(skb, p->l4_off, ports, sizeof(ports)) < 0)
		return -1;
	p->flow.saddr = ip.saddr;
	p->flow.daddr = ip.daddr;
	p->flow.sport = ports[0];
	p->flow.dport = ports[1];
	p->flow.proto = ip.protocol;
	p->tcp_flags = 0;
	if (ip.protocol == IPPROTO_TCP &&
	    bpf_skb_load_bytes(skb, p->l4_off + 13, &p->tcp_flags, 1) < 0)
		return -1;
	return 0;
}

static __always_inline __u64 l4_flags(struct pkt *p)
{
	return p->flow.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
}

static __always_inline int set_addr(struct __sk_buff *skb, struct pkt *p, __u32 off, __be32 old,
				    __be32 new)
{
	if (old == new)
		return 0;
	if (bpf_l4_csum_replace(skb, p->csum_off, old, new, BPF_F_PSEUDO_HDR | 4 | l4_flags(p)))
		return -1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old, new, 4))
		return -1;
	return bpf_skb_store_bytes(skb, off, &new, 4, 0);
}

static __always_inline int set_port(struct __sk_buff *skb, struct pkt *p, __u32 off, __be16 old,
				    __be16 new)
{
	if (old == new)
		return 0;
	if (bpf_l4_csum_replace(skb, p->csum_off, old, new, 2 | l4_flags(p)))
		return -1;
	return bpf_skb_store_bytes(skb, p->l4_off + off, &new, 2, 0);
}

/* Rewrite the 4-tuple to (saddr:sport -> daddr:dport). */
static __always_inline int rewrite(struct __sk_buff *skb, struct pkt *p, __be32 saddr, __be16 sport,
				   __be32 daddr, __be16 dport)
{
	if (set_addr(skb, p, IP_SRC_OFF, p->flow.saddr, saddr) ||
	    set_addr(skb, p, IP_DST_OFF, p->flow.daddr, daddr) ||
	    set_port(skb, p, 0, p->flow.sport, sport) || set_port(skb, p, 2, p->flow.dport, dport))
		return -1;
	p->flow.saddr = saddr;
	p->flow.daddr = daddr;
	p->flow.sport = sport;
	p->flow.dport = dport;
	return 0;
}

/* Forward as a router would (TTL, next hop's MAC) but without the node's netfilter. */
static __always_inline int forward(struct __sk_buff *skb, struct pkt *p)
{
	struct bpf_fib_lookup fib = {};
	__u8 ttl;
	long rc;

	if (bpf_skb_load_bytes(skb, IP_TTL_OFF, &ttl, 1) < 0 || ttl <= 1)
		return TC_ACT_OK; /* the stack answers with ICMP time exceeded */
	fib.family = AF_INET;
	fib.ipv4_src = p->flow.saddr;
	fib.ipv4_dst = p->flow.daddr;
	fib.ifindex = skb->ingress_ifindex;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return TC_ACT_OK;
	{
		__u16 old = bpf_htons((__u16)ttl << 8);
		__u16 new = bpf_htons((__u16)(ttl - 1) << 8);

		ttl -= 1;
		bpf_l3_csum_replace(skb, IP_CSUM_OFF, old, new, 2);
		bpf_skb_store_bytes(skb, IP_TTL_OFF, &ttl, 1, 0);
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
	bpf_skb_store_bytes(skb, 0, fib.dmac, 6, 0);
	bpf_skb_store_bytes(skb, 6, fib.smac, 6, 0);
	return bpf_redirect(fib.ifindex, 0);
}

/* Cilium's dsr_set_opt4: 8 bytes after the 20-byte header, ihl 5 -> 7. */
static __always_inline int add_dsr_option(struct __sk_buff *skb, struct pkt *p, __be32 svc_addr,
					  __be16 svc_port)
{
	__u32 mtu_len = 0;
	__u8 opt[DSR_OPT_LEN] = {DSR_OPT_TYPE, DSR_OPT_LEN};
	__u16 words[14];
	__u32 sum = 0;
	__u8 vihl = 0x47;
	__be16 tot_len;

	if (bpf_check_mtu(skb, 0, &mtu_len, DSR_OPT_LEN, 0) != BPF_MTU_CHK_RET_SUCCESS) {
		count(STAT_DSR_TOO_BIG);
		return -1;
	}
	if (bpf_skb_adjust_room(skb, DSR_OPT_LEN, BPF_ADJ_ROOM_NET, 0))
		return -1;
	__builtin_memcpy(&opt[2], &svc_port, 2);
	__builtin_memcpy(&opt[4], &svc_addr, 4);
	if (bpf_skb_store_bytes(skb, ETH_HLEN + IP_HLEN, opt, sizeof(opt), 0))
		return -1;
	tot_len = bpf_htons(p->tot_len + DSR_OPT_LEN);
	bpf_skb_store_bytes(skb, ETH_HLEN, &vihl, 1, 0);
	bpf_skb_store_bytes(skb, ETH_HLEN + 2, &tot_len, 2, 0);
	/* The header changed in four places: compute its checksum anew. */
	if (bpf_skb_load_bytes(skb, ETH_HLEN, words, sizeof(words)))
		return -1;
	words[5] = 0;
#pragma unroll
	for (int i = 0; i < 14; i++)
		sum += words[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	words[5] = (__u16)~sum;
	if (bpf_skb_store_bytes(skb, IP_CSUM_OFF, &words[5], 2, 0))
		return -1;
	p->ihl = 7;
	p->l4_off += DSR_OPT_LEN;
	p->csum_off += DSR_OPT_LEN;
	count(STAT_DSR_OPT_ADDED);
	return 0;
}

/* jhash's final mix over the flow: the tuple hash Maglev indexes with. */
static __always_inline __u32 flow_hash(struct flow4 *f)
{
	__u32 a = f->saddr, b = f->daddr, c = ((__u32)f->sport << 16 | f->dport) ^ f->proto;

	c ^= b; c -= (b << 14) | (b >> 18);
	a ^= c; a -= (c << 11) | (c >> 21);
	b ^= a; b -= (a << 25) | (a >> 7);
	c ^= b; c -= (b << 16) | (b >> 16);
	a ^= c; a -= (c << 4) | (c >> 28);
	b ^= a; b -= (a << 14) | (a >> 18);
	c ^= b; c -= (b << 24) | (b >> 8);
	return c;
}

static __always_inline struct lb4_entry *pick_backend(struct pkt *p, struct lb4_entry *svc,
						      __u8 scope)
{
	__u16 slot;

	if (svc->flags & SVC_F_MAGLEV) {
		__u32 id = svc->svc_id, index = flow_hash(&p->flow) % MAGLEV_M;
		struct maglev_table *table = bpf_map_lookup_elem(&lb4_maglev, &id);

		asm volatile("" : "+r"(index)); /* keep the bound check the verifier needs */
		if (!table || index >= MAGLEV_M)
			return NULL;
		slot = (__u16)table->slot[index];
	} else {
		slot = (__u16)(bpf_get_prandom_u32() % svc->count) + 1;
	}
	return lookup_slot(p->flow.daddr, p->flow.dport, p->flow.proto, scope, slot);
}

/* The DSR option on a packet arriving at a backend's node: remember the service. */
static __always_inline void note_dsr_option(struct __sk_buff *skb, struct pkt *p)
{
	__u8 opt[DSR_OPT_LEN];
	struct rev_entry rev = {};
	struct flow4 key = {};

	if (p->ihl != 7 || bpf_skb_load_bytes(skb, ETH_HLEN + IP_HLEN, opt, sizeof(opt)) < 0)
		return;
	if (opt[0] != DSR_OPT_TYPE || opt[1] != DSR_OPT_LEN)
		return;
	key.saddr = p->flow.daddr; /* the reply's tuple: backend -> client */
	key.daddr = p->flow.saddr;
	key.sport = p->flow.dport;
	key.dport = p->flow.sport;
	key.proto = p->flow.proto;
	__builtin_memcpy(&rev.sport, &opt[2], 2);
	__builtin_memcpy(&rev.saddr, &opt[4], 4);
	rev.daddr = p->flow.saddr;
	rev.dport = p->flow.sport;
	bpf_map_update_elem(&lb4_rev, &key, &rev, BPF_ANY);
	count(STAT_DSR_OPT_SEEN);
}

static __always_inline int reply_to_client(struct __sk_buff *skb, struct pkt *p)
{
	struct rev_entry *rev = bpf_map_lookup_elem(&lb4_rev, &p->flow);

	if (!rev)
		return -1;
	if (rewrite(skb, p, rev->saddr, rev->sport, rev->daddr, rev->dport))
		return TC_ACT_SHOT;
	count(STAT_REV_XLATE);
	return forward(skb, p);
}

static __always_inline int nodeport(struct __sk_buff *skb, struct pkt *p, struct lb_config *cfg)
{
	struct lb4_entry *svc, *be;
	struct ct_entry *ct, flow = {};
	struct flow4 in = p->flow;
	__be32 svc_addr = p->flow.daddr, client = p->flow.saddr;
	__be16 svc_port = p->flow.dport, client_port = p->flow.sport;
	__u8 scope = SCOPE_EXTERNAL;
	bool first;

	svc = lookup_service(svc_addr, svc_port, p->flow.proto, SCOPE_EXTERNAL);
	if (!svc)
		return -1;
	if (svc->flags & SVC_F_LOCAL) {
		scope = SCOPE_LOCAL;
		svc = lookup_service(svc_addr, svc_port, p->flow.proto, SCOPE_LOCAL);
	}
	if (!svc || svc->count == 0) {
		count(STAT_NP_NO_BACKEND);
		return TC_ACT_SHOT;
	}
	ct = bpf_map_lookup_elem(&lb4_ct, &in);
	first = !ct;
	if (ct) {
		flow = *ct;
	} else {
		be = pick_backend(p, svc, scope);
		if (!be)
			return TC_ACT_SHOT;
		flow.backend = be->address;
		flow.backend_port = be->port;
		flow.nat_port = client_port;
		if (be->flags & BE_F_LOCAL)
			flow.how = HOW_LOCAL;
		else if (cfg->mode == MODE_DSR ||
			 (cfg->mode == MODE_HYBRID && p->flow.proto == IPPROTO_TCP))
			flow.how = HOW_DSR;
		else
			flow.how = HOW_SNAT;
		bpf_map_update_elem(&lb4_ct, &in, &flow, BPF_ANY);
	}
	if (flow.how == HOW_SNAT) {
		/* SNAT: the reply comes back to this node as backend -> node:nat_port */
		{
			struct flow4 key = {.saddr = flow.backend, .daddr = cfg->node_ip,
					    .sport = flow.backend_port, .dport = flow.nat_port,
					    .proto = p->flow.proto};
			struct rev_entry rev = {.saddr = svc_addr, .daddr = client,
						.sport = svc_port, .dport = client_port};

			bpf_map_update_elem(&lb4_rev, &key, &rev, BPF_ANY);
		}
		if (rewrite(skb, p, cfg->node_ip, flow.nat_port, flow.backend, flow.backend_port))
			return TC_ACT_SHOT;
	} else {
		if (flow.how == HOW_LOCAL) {
			struct flow4 key = {.saddr = flow.backend, .daddr = client,
					    .sport = flow.backend_port, .dport = client_port,
					    .proto = p->flow.proto};
			struct rev_entry rev = {.saddr = svc_addr, .daddr = client,
						.sport = svc_port, .dport = client_port};

			bpf_map_update_elem(&lb4_rev, &key, &rev, BPF_ANY);
		}
		if (rewrite(skb, p, client, client_port, flow.backend, flow.backend_port))
			return TC_ACT_SHOT;
		if (flow.how == HOW_DSR && p->ihl == 5 &&
		    (p->flow.proto == IPPROTO_UDP || (first && (p->tcp_flags & TCP_FLAG_SYN)))) {
			if (add_dsr_option(skb, p, svc_addr, svc_port))
				return TC_ACT_SHOT;
		}
	}
	count(STAT_NP_FORWARD);
	return forward(skb, p);
}

/* The node's uplink: NodePort requests in, SNAT replies back, DSR options noted. */
SEC("tc")
int lb_uplink_ingress(struct __sk_buff *skb)
{
	struct lb_config *cfg = lb_config_get();
	struct pkt p = {};
	int rc;

	if (!cfg || parse(skb, &p))
		return TC_ACT_OK;
	if (p.ihl == 7)
		note_dsr_option(skb, &p);
	rc = reply_to_client(skb, &p);
	if (rc >= 0)
		return rc;
	rc = nodeport(skb, &p, cfg);
	return rc >= 0 ? rc : TC_ACT_OK;
}

/* The node's side of a pod's veth: replies of local backends (local DNAT, DSR). */
SEC("tc")
int lb_pod_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};
	int rc;

	if (parse(skb, &p))
		return TC_ACT_OK;
	rc = reply_to_client(skb, &p);
	return rc >= 0 ? rc : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
