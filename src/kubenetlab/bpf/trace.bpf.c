// SPDX-License-Identifier: GPL-2.0
/* kubenetlab's per-hop tracer: one timestamp per probe packet per interface crossing.
 *
 * Attached at tcx ingress and egress of every interface on a path. A probe packet is a
 * UDP datagram to or from PROBE_PORT, or a TCP segment to any port, whose payload starts
 * with PROBE_MAGIC and a 32-bit sequence number; it is found plain, inside VXLAN (UDP
 * 4789/8472, + 50 bytes) or inside IPIP (+ 20 bytes). The key survives NAT and namespaces
 * because it is in the payload (skb->mark and skb->tstamp are scrubbed at veth); the
 * probe's own addresses and ports are recorded at every crossing, so a DNAT (a ClusterIP
 * becoming a pod) shows where it happens. bpf_ktime_get_ns() is one clock for the whole
 * kernel, so hooks in different namespaces subtract exactly.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

#define TC_ACT_OK 0
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define PROBE_PORT 7999
#define PROBE_MAGIC 0x4b4e4c54 /* "KNLT" */

struct hop_key {
	__u32 seq;
	__u32 ifindex;
	__u64 netns; /* inode number of the device's network namespace */
	__u8 egress;
	__u8 reply; /* 1: the packet goes from the probe server back to the client */
	__u8 pad[6];
};

struct hop_value {
	__u64 ns;
	__u32 wire_len; /* bytes on the wire here, L2 included */
	__u32 saddr;    /* the probe's own 5-tuple here (inner header, network order) */
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, struct hop_key);
	__type(value, struct hop_value);
} hops SEC(".maps");

/* Slot 0, bit 0: look into TCP payloads too (rr, crr). Off for UDP probes, so the TCP
 * traffic of everything else on the path leaves after one header load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} trace_config SEC(".maps");

/* Find the probe in the plain, VXLAN or IPIP layout (one level of encapsulation). */
static __always_inline int probe_at(struct __sk_buff *skb, __u32 l3, __u32 *seq, __u8 *reply,
				    struct hop_value *v)
{
	struct iphdr ip;
	struct udphdr udp;
	struct tcphdr tcp;
	__u32 payload[2];
	__u32 l4;

#pragma unroll
	for (int depth = 0; depth < 2; depth++) {
		if (bpf_skb_load_bytes(skb, l3, &ip, sizeof(ip)) < 0 || ip.version != 4)
			return -1;
		l4 = l3 + ip.ihl * 4;
		if (ip.protocol == IPPROTO_IPIP) {
			l3 = l4;
			continue;
		}
		v->saddr = ip.saddr;
		v->daddr = ip.daddr;
		v->proto = ip.protocol;
		if (ip.protocol == IPPROTO_TCP) {
			__u32 zero = 0, *flags = bpf_map_lookup_elem(&trace_config, &zero);

			if (!flags || !(*flags & 1))
				return -1;
			/* TCP probes (rr, crr): the reply echoes the request's payload. `reply`
			 * only keeps the two directions' crossings apart in the key; user space
			 * tells them by the server's ports. */
			if (bpf_skb_load_bytes(skb, l4, &tcp, sizeof(tcp)) < 0)
				return -1;
			if (bpf_skb_load_bytes(skb, l4 + tcp.doff * 4, payload, sizeof(payload)) < 0)
				return -1;
			if (payload[0] != bpf_htonl(PROBE_MAGIC))
				return -1;
			*seq = bpf_ntohl(payload[1]);
			*reply = bpf_ntohs(tcp.source) < bpf_ntohs(tcp.dest);
			v->sport = bpf_ntohs(tcp.source);
			v->dport = bpf_ntohs(tcp.dest);
			return 0;
		}
		if (ip.protocol != IPPROTO_UDP || bpf_skb_load_bytes(skb, l4, &udp, sizeof(udp)) < 0)
			return -1;
		if (udp.dest == bpf_htons(4789) || udp.dest == bpf_htons(8472)) {
			l3 = l4 + 8 + 8 + ETH_HLEN;
			continue;
		}
		if (udp.dest != bpf_htons(PROBE_PORT) && udp.source != bpf_htons(PROBE_PORT))
			return -1;
		if (bpf_skb_load_bytes(skb, l4 + 8, payload, sizeof(payload)) < 0)
			return -1;
		if (payload[0] != bpf_htonl(PROBE_MAGIC))
			return -1;
		*seq = bpf_ntohl(payload[1]);
		*reply = udp.source == bpf_htons(PROBE_PORT);
		v->sport = bpf_ntohs(udp.source);
		v->dport = bpf_ntohs(udp.dest);
		return 0;
	}
	return -1;
}

static __always_inline int record(struct __sk_buff *skb, __u8 egress)
{
	struct hop_key key = {};
	struct hop_value value = {};

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (probe_at(skb, ETH_HLEN, &key.seq, &key.reply, &value) < 0)
		return TC_ACT_OK;
	key.ifindex = skb->ifindex;
	{
		/* The device's namespace (its inode number, as /run/netns/NAME's), not the
		 * sending socket's, which a packet still carries at the first veth hops. */
		struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);

		key.netns = BPF_CORE_READ(kskb, dev, nd_net.net, ns.inum);
	}
	key.egress = egress;
	value.ns = bpf_ktime_get_ns();
	value.wire_len = skb->len;
	bpf_map_update_elem(&hops, &key, &value, BPF_NOEXIST);
	return TC_ACT_OK;
}

SEC("tc")
int trace_ingress(struct __sk_buff *skb)
{
	return record(skb, 0);
}

SEC("tc")
int trace_egress(struct __sk_buff *skb)
{
	return record(skb, 1);
}

char LICENSE[] SEC("license") = "GPL";
