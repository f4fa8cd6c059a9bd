// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * The in-kernel GENEVE fast path (`gwlb appliance run --datapath bpf`), two tc programs:
 *
 *   gwlb_ingress, on the interface the GWLB reaches: a GENEVE datagram from an allowed source, for an endpoint
 *   whose tunnel user space has made, is decapsulated and handed to that endpoint's gwi-X as if received there;
 *   its flow's header is kept in `flows` (LRU, --max-flows).
 *   gwlb_egress, on every gwi-X/gwo-X: what the kernel routes into them is encapsulated with its flow's latest
 *   header and sent back to the GWLB node it came from, from the address it was sent to, between the UDP ports
 *   it came by.
 *
 * Anything else (a new endpoint, GRO-merged or fragmented datagrams, a flow only user space knows, a next hop
 * without a neighbour entry) goes on to the TUN path in user space, which handles it as it always did: this
 * path only ever takes the common case off it. Drops that need no user space are counted per CPU in `stats`.
 *
 * Headers are read with one skb_load_bytes each side (two for a GENEVE datagram: outer headers, then the inner
 * packet's) into a per-CPU buffer, not in place: offsets that depend on the packet may be added to a map value
 * pointer with CAP_BPF alone, but not to a packet pointer (that takes CAP_PERFMON).
 * Helpers, all in Linux 5.11 and later (Ubuntu 22.04 has 5.15): map lookup/update, ktime_get_coarse_ns,
 * skb_load_bytes, skb_store_bytes, skb_change_proto, skb_adjust_room (BPF_ADJ_ROOM_MAC),
 * skb_change_head, fib_lookup, redirect. Maps are the legacy `maps` section (gwlb's own loader,
 * native/bpf_loader.c, reads it).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "gwlb_abi.h"

#define AF_INET 2
#define OUTER_LEN (sizeof(struct iphdr) + sizeof(struct udphdr))
/* A variable length the verifier can bound: 8…64 in steps of 4. */
#define BOUNDED(length) ((length) & (GWLB_MAX_HEADER - 1) ? (length) & (GWLB_MAX_HEADER - 1) : GWLB_MAX_HEADER)

/* The legacy map definition, laid out as gwlb's loader reads it. */
struct map_def {
  __u32 type;
  __u32 key_size;
  __u32 value_size;
  __u32 max_entries;
  __u32 map_flags;
};

/* Both directions of a flow have one key: its two ends in a fixed order. */
struct flow_key {
  __u8 protocol;
  __u8 version;
  __u16 pad;
  __u32 a[4];
  __u32 b[4];
  __u16 a_port;
  __u16 b_port;
};

struct flow {
  __u64 seen;      /* CLOCK_MONOTONIC (coarse: a tick behind at most) of its last packet from the GWLB */
  __u32 gwlb;      /* the GWLB node's address (network order) */
  __u32 local;     /* the address it sent to */
  __u16 gwlb_port; /* the port it sent from (network order) */
  __u8 header_length;
  __u8 pad;
  __u32 tunnel;
  __u8 header[GWLB_MAX_HEADER];
  /* The way back to the GWLB node, as the last route lookup found it; good for a second, and for packets up to
   * route_length (the MTU was checked for that one). */
  __u64 route_until;
  __u32 route_ifindex;
  __u16 route_length;
  __u8 dmac[ETH_ALEN];
  __u8 smac[ETH_ALEN];
};
#define ROUTE_NS 1000000000ULL

/* stats (gwlb_abi.h), each a packet count and a byte count: in and out for all tunnels (slot 0) and per tunnel,
 * then the drops the programs make (GWLB_KERNEL_DROPS), then the flows added. */
enum { IN, OUT };

struct map_def SEC("maps") tunnels = {BPF_MAP_TYPE_HASH, sizeof(__u64), sizeof(struct tunnel), GWLB_TUNNEL_SLOTS, 0};
/* max_entries is --max-flows, set by the loader. */
struct map_def SEC("maps") flows = {BPF_MAP_TYPE_LRU_HASH, sizeof(struct flow_key), sizeof(struct flow), 1, 0};
struct map_def SEC("maps") activity = {BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(__u64), GWLB_TUNNEL_SLOTS, 0};
struct map_def SEC("maps") stats = {BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(struct counter), GWLB_STATS_ENTRIES, 0};
struct map_def SEC("maps") config = {BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct settings), 1, 0};
/* Bytes read from the packet: the outer IPv4 and UDP headers and the GENEVE header, then the inner packet's first
 * bytes (ingress); the inner packet's first bytes (egress). */
#define OUTER_READ (OUTER_LEN + GWLB_MAX_HEADER)
#define KEY_BYTES 44 /* an IPv6 header and the ports (after IPv4 options they are read apart) */
struct scratch {
  __u8 outer[OUTER_READ];
  __u8 inner[KEY_BYTES];
};
enum { INGRESS, EGRESS };
struct map_def SEC("maps") scratch = {BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(struct scratch), 2, 0};
struct map_def SEC("maps") sources = {BPF_MAP_TYPE_LPM_TRIE, sizeof(struct source_prefix), sizeof(__u8), GWLB_MAX_SOURCES, BPF_F_NO_PREALLOC};

static __always_inline void add(__u32 index, __u64 bytes) {
  struct counter *counter = bpf_map_lookup_elem(&stats, &index);
  if (counter) {
    counter->packets++;
    counter->bytes += bytes;
  }
}

/* A packet and its bytes, one way, for all tunnels (index 0: GENEVE payload, as the TUN path counts) or one (inner packet). */
static __always_inline void count(__u32 tunnel, __u32 direction, __u32 bytes) {
  add((tunnel & (GWLB_TUNNEL_SLOTS - 1)) * GWLB_PER_TUNNEL + direction, bytes);
}

/* The coarse clock moves once a tick: a tunnel's time is written that often, not for every packet on every CPU. */
static __always_inline void touch(__u32 tunnel, __u64 now) {
  __u32 i = tunnel & (GWLB_TUNNEL_SLOTS - 1);
  __u64 *seen = bpf_map_lookup_elem(&activity, &i);
  if (seen && *seen != now) *seen = now;
}

/* A datagram received and dropped: in the totals, as every datagram the TUN path receives is, and by reason. */
static __always_inline int drop(__u32 reason, __u32 payload) {
  count(0, IN, payload);
  add(GWLB_STATS_DROPS + reason, 0);
  return TC_ACT_SHOT;
}

/* Which end comes first: any fixed order will do, as long as both directions agree. */
static __always_inline int before(const __u32 *x, __u16 xp, const __u32 *y, __u16 yp) {
#pragma unroll
  for (int i = 0; i < 4; i++)
    if (x[i] != y[i]) return x[i] < y[i];
  return xp <= yp;
}

static __always_inline int has_ports(__u8 protocol) {
  return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_SCTP || protocol == IPPROTO_UDPLITE;
}

/* `value` put within 1…max in a way the verifier follows (the compiler's own tests may be on another copy). */
#define WITHIN(value, max) asm volatile("if %[v] <= %[m] goto +1\n\t%[v] = %[m]\n\tif %[v] > 0 goto +1\n\t%[v] = 1" : [v] "+r"(value) : [m] "i"(max))

/*
 * The key of the IP packet at `at`, as the TUN path's flow table keys it: protocol, addresses and ports (none for
 * port-less protocols, later fragments and packets cut short before them); its IP version, or 0 when it is not
 * IP. Its first KEY_BYTES are read into `p`.
 */
static __always_inline int key_packet(struct __sk_buff *skb, __u32 at, __u8 *p, struct flow_key *key) {
  __u32 length = skb->len > at ? skb->len - at : 0;
  WITHIN(length, KEY_BYTES); // none left: a byte is asked for, and the read fails
  if (bpf_skb_load_bytes(skb, at, p, length)) return 0;
  __u32 src[4] = {}, dst[4] = {};
  __u32 l4 = 0;
  __builtin_memset(key, 0, sizeof *key);
  if (p[0] >> 4 == 4) {
    const struct iphdr *ip = (const void *)p;
    if (length < sizeof *ip || ip->ihl < 5) return 0;
    key->protocol = ip->protocol;
    key->version = 4;
    src[3] = ip->saddr;
    dst[3] = ip->daddr;
    if (has_ports(ip->protocol) && (ip->frag_off & bpf_htons(0x1fff)) == 0) l4 = ip->ihl * 4;
  } else if (p[0] >> 4 == 6) {
    const struct ipv6hdr *ip6 = (const void *)p;
    if (length < sizeof *ip6) return 0;
    key->protocol = ip6->nexthdr;
    key->version = 6;
    __builtin_memcpy(src, &ip6->saddr, 16);
    __builtin_memcpy(dst, &ip6->daddr, 16);
    if (has_ports(ip6->nexthdr)) l4 = sizeof *ip6;
  }
  if (!key->version) return 0;
  union {
    __u32 word;
    __u16 port[2];
  } ports = {}, after_ipv4, after_ipv6;
  if (l4 == sizeof(struct iphdr) || l4 == sizeof(struct ipv6hdr)) {
    // Both places the ports can be are read from p, the right one picked by value. Two reads picked by address
    // become one read at an offset that differs from path to path, which the verifier refuses without
    // CAP_PERFMON; the asm keeps the compiler from making them that.
    __builtin_memcpy(&after_ipv4, p + sizeof(struct iphdr), 4);
    __builtin_memcpy(&after_ipv6, p + sizeof(struct ipv6hdr), 4);
    asm volatile("" : "+r"(after_ipv4.word), "+r"(after_ipv6.word));
    if (l4 + 4 <= length) ports.word = l4 == sizeof(struct iphdr) ? after_ipv4.word : after_ipv6.word;
  } else if (l4 && bpf_skb_load_bytes(skb, at + l4, &ports, sizeof ports)) {
    ports.word = 0; // after IPv4 options, from the packet itself
  }
  int keep = before(src, ports.port[0], dst, ports.port[1]);
  __builtin_memcpy(key->a, keep ? src : dst, 16);
  __builtin_memcpy(key->b, keep ? dst : src, 16);
  key->a_port = keep ? ports.port[0] : ports.port[1];
  key->b_port = keep ? ports.port[1] : ports.port[0];
  return key->version;
}

#define CRITICAL 0x80
/* Options of a header the kernel path keeps (56 bytes at most), 4 at least each. */
#define MAX_OPTIONS ((GWLB_MAX_HEADER - 8) / 4)

/*
 * Walks the options of the GENEVE header `geneve` (`length` bytes, GWLB_MAX_HEADER at most, all read) as the TUN
 * path's decoder does: the ENI id (out), or a drop reason (negative, -1 - reason) for an option past the header,
 * an unknown critical option, or an AWS option missing.
 *
 * It visits every word where an option could start and reads at that constant offset when one does: without
 * CAP_PERFMON the verifier refuses pointer arithmetic whose offset is constant on one path and not on another.
 */
static __always_inline long aws_options(const __u8 *geneve, __u32 length, __u64 *eni) {
  __u32 seen = 0, next = 8;
#pragma unroll
  for (__u32 at = 8; at < GWLB_MAX_HEADER; at += 4) {
    if (at != next || at >= length) continue;
    if (at + 4 > length) return -1 - GWLB_DROP_OPTION_OVERRUN;
    const __u8 *option = geneve + at;
    __u32 data_length = (option[3] & 0x1f) * 4;
    if (at + 4 + data_length > length) return -1 - GWLB_DROP_OPTION_OVERRUN;
    int aws = ((option[0] << 8) | option[1]) == GWLB_AWS_OPTION_CLASS;
    if (aws && option[2] == GWLB_AWS_ENI_TYPE && data_length == 8) {
      __builtin_memcpy(eni, option + 4, 8);
      *eni = bpf_be64_to_cpu(*eni);
      seen |= 1;
    } else if (aws && option[2] == GWLB_AWS_ATTACHMENT_TYPE && data_length == 8) {
      seen |= 2;
    } else if (aws && option[2] == GWLB_AWS_COOKIE_TYPE && data_length == 4) {
      seen |= 4;
    } else if (option[2] & CRITICAL) {
      return -1 - GWLB_DROP_UNKNOWN_CRITICAL_OPTION;
    }
    next = at + 4 + data_length;
  }
  return seen == 7 ? 0 : -1 - GWLB_DROP_MISSING_AWS_OPTION;
}

SEC("tc/ingress")
int gwlb_ingress(struct __sk_buff *skb) {
  __u32 zero = 0, slot = INGRESS;
  struct settings *settings = bpf_map_lookup_elem(&config, &zero);
  struct scratch *read = bpf_map_lookup_elem(&scratch, &slot);
  // Too short for IPv4, UDP and a GENEVE header: not for this path.
  if (!settings || !read || skb->protocol != bpf_htons(ETH_P_IP) || skb->pkt_type != PACKET_HOST || skb->len < ETH_HLEN + OUTER_LEN + 8) return TC_ACT_OK;
  __u32 length = skb->len - ETH_HLEN;
  WITHIN(length, OUTER_READ);
  if (bpf_skb_load_bytes(skb, ETH_HLEN, read->outer, length)) return TC_ACT_OK;
  const struct iphdr *ip = (const void *)read->outer;
  const struct udphdr *udp = (const void *)(read->outer + sizeof *ip);
  const __u8 *geneve = read->outer + OUTER_LEN;
  if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP || udp->dest != settings->port) return TC_ACT_OK;
  // Fragments, GRO-merged datagrams, and those too short for a GENEVE header: the TUN path reassembles, cuts
  // or names them.
  if ((ip->frag_off & bpf_htons(0x3fff)) || skb->gso_segs > 1 || bpf_ntohs(udp->len) < sizeof *udp + 8) return TC_ACT_OK;
  __u32 payload = bpf_ntohs(udp->len) - sizeof *udp;
  if (settings->check_sources) {
    struct source_prefix prefix = {32, ip->saddr};
    if (!bpf_map_lookup_elem(&sources, &prefix)) return drop(GWLB_DROP_SOURCE_NOT_ALLOWED, payload);
  }
  __u32 header_length = 8 + (geneve[0] & 0x3f) * 4;
  __u16 inner_type = (geneve[2] << 8) | geneve[3];
  if (geneve[0] >> 6) return drop(GWLB_DROP_BAD_VERSION, payload);
  if (header_length > payload) return drop(GWLB_DROP_OPTIONS_OVERRUN, payload);
  // A header longer than a flow keeps: the TUN path decodes it and says so. One the datagram does not hold
  // (its UDP length says more than it brought): an option overruns.
  if (header_length > GWLB_MAX_HEADER) return TC_ACT_OK;
  if (OUTER_LEN + header_length > length) return drop(GWLB_DROP_OPTION_OVERRUN, payload);
  __u64 eni = 0;
  long wrong = aws_options(geneve, header_length, &eni);
  if (wrong) return drop(-1 - wrong, payload);
  if (inner_type != ETH_P_IP && inner_type != ETH_P_IPV6) return drop(GWLB_DROP_UNSUPPORTED_PROTOCOL, payload);
  struct tunnel *tunnel = bpf_map_lookup_elem(&tunnels, &eni);
  if (!tunnel) return TC_ACT_OK; // a new endpoint: user space makes its tunnel
  __u32 ifindex = tunnel->ifindex, index = tunnel->index;

  struct flow_key key;
  // Not IP inside, or cut short: the TUN path names it.
  if (key_packet(skb, ETH_HLEN + OUTER_LEN + header_length, read->inner, &key) != (inner_type == ETH_P_IP ? 4 : 6)) return TC_ACT_OK;
  // A known flow is updated where it is (the latest header wins); a new one is added and counted: the LRU map
  // drops its least recently used flows silently, so user space tells evictions as added minus present.
  __u64 now = bpf_ktime_get_coarse_ns();
  struct flow *known = bpf_map_lookup_elem(&flows, &key);
  if (known) {
    __builtin_memcpy(known->header, geneve, GWLB_MAX_HEADER); // past header_length: not used
    if (known->gwlb != ip->saddr || known->local != ip->daddr) known->route_until = 0;
    known->seen = now;
    known->gwlb = ip->saddr;
    known->local = ip->daddr;
    known->gwlb_port = udp->source;
    known->header_length = header_length;
    known->tunnel = index;
  } else {
    struct flow flow = {.seen = now, .gwlb = ip->saddr, .local = ip->daddr, .gwlb_port = udp->source, .header_length = header_length, .tunnel = index};
    __builtin_memcpy(flow.header, geneve, GWLB_MAX_HEADER);
    if (bpf_map_update_elem(&flows, &key, &flow, BPF_NOEXIST) == 0) add(GWLB_STATS_NEW_FLOWS, 0);
  }

  // Off with the outer IPv4, UDP and GENEVE headers. For IPv6 inside, the skb first becomes IPv6 (growing by
  // 20 bytes, removed with the rest): Linux before 6.3 cannot change the protocol while it decapsulates.
  __u32 outer = OUTER_LEN + header_length;
  if (inner_type == ETH_P_IPV6) {
    if (bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 0)) return TC_ACT_OK;
    outer += sizeof(struct ipv6hdr) - sizeof(struct iphdr);
  }
  if (bpf_skb_adjust_room(skb, -(__s32)outer, BPF_ADJ_ROOM_MAC, 0)) return TC_ACT_SHOT;
  count(0, IN, payload);
  count(index, IN, skb->len - ETH_HLEN);
  touch(index, now);
  return bpf_redirect(ifindex, BPF_F_INGRESS);
}

static __always_inline __u16 ipv4_checksum(const struct iphdr *ip) {
  const __u16 *words = (const __u16 *)ip;
  __u32 sum = 0;
#pragma unroll
  for (int i = 0; i < (int)(sizeof *ip / 2); i++) sum += words[i];
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return ~sum;
}

SEC("tc/egress")
int gwlb_egress(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct settings *settings = bpf_map_lookup_elem(&config, &zero);
  struct flow_key key;
  __u32 slot = EGRESS;
  struct scratch *read = bpf_map_lookup_elem(&scratch, &slot);
  if (!settings || !read || skb->gso_segs > 1 || !key_packet(skb, 0, read->inner, &key)) return TC_ACT_OK;
  struct flow *flow = bpf_map_lookup_elem(&flows, &key);
  if (!flow) return TC_ACT_OK; // a flow only the TUN path knows, or none: user space decides

  __u32 header_length = flow->header_length;
  if (header_length < 8 || header_length > GWLB_MAX_HEADER) return TC_ACT_OK;
  __u32 inner_length = skb->len;
  __u16 total = OUTER_LEN + header_length + inner_length;
  __u64 now = bpf_ktime_get_coarse_ns();
  if (now >= flow->route_until || total > flow->route_length) {
    struct bpf_fib_lookup route = {.family = AF_INET, .ipv4_src = flow->local, .ipv4_dst = flow->gwlb, .tot_len = total, .ifindex = settings->ifindex};
    // No neighbour entry yet (or a packet too big for the path): the TUN path sends it, and the kernel resolves.
    if (bpf_fib_lookup(skb, &route, sizeof route, BPF_FIB_LOOKUP_OUTPUT) != BPF_FIB_LKUP_RET_SUCCESS) return TC_ACT_OK;
    flow->route_ifindex = route.ifindex;
    flow->route_length = total;
    __builtin_memcpy(flow->dmac, route.dmac, ETH_ALEN);
    __builtin_memcpy(flow->smac, route.smac, ETH_ALEN);
    flow->route_until = now + ROUTE_NS;
  }
  __u32 ifindex = flow->route_ifindex;

  struct ethhdr eth = {.h_proto = bpf_htons(ETH_P_IP)};
  __builtin_memcpy(eth.h_dest, flow->dmac, ETH_ALEN);
  __builtin_memcpy(eth.h_source, flow->smac, ETH_ALEN);
  // As the TUN path sends: don't fragment, TTL 64, no UDP checksum (RFC 8926 allows it over IPv4).
  struct iphdr ip = {.version = 4, .ihl = 5, .tot_len = bpf_htons(total), .frag_off = bpf_htons(0x4000), .ttl = 64, .protocol = IPPROTO_UDP, .saddr = flow->local, .daddr = flow->gwlb};
  ip.check = ipv4_checksum(&ip);
  // Between the ports it came by (gwlbtun's way): from the port the GWLB sent from, to GENEVE's.
  struct udphdr udp = {.source = flow->gwlb_port, .dest = bpf_htons(GWLB_GENEVE_PORT), .len = bpf_htons(sizeof udp + header_length + inner_length)};
  // All that goes in front, written in one store.
  __u8 outer[ETH_HLEN + OUTER_LEN + GWLB_MAX_HEADER];
  __builtin_memcpy(outer, &eth, ETH_HLEN);
  __builtin_memcpy(outer + ETH_HLEN, &ip, sizeof ip);
  __builtin_memcpy(outer + ETH_HLEN + sizeof ip, &udp, sizeof udp);
  __builtin_memcpy(outer + ETH_HLEN + OUTER_LEN, flow->header, GWLB_MAX_HEADER);
  __u32 tunnel = flow->tunnel;

  if (bpf_skb_change_head(skb, ETH_HLEN + OUTER_LEN + header_length, 0)) return TC_ACT_SHOT;
  if (bpf_skb_store_bytes(skb, 0, outer, ETH_HLEN + OUTER_LEN + BOUNDED(header_length), 0)) return TC_ACT_SHOT;
  count(0, OUT, header_length + inner_length);
  count(tunnel, OUT, inner_length);
  touch(tunnel, now);
  return bpf_redirect(ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
