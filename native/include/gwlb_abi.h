// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * The one definition of what the C (the BPF programs and the N-API module) and the TypeScript share: limits,
 * wire numbers, the BPF maps' layouts and counters, what recvUdpBatch reports, and the N-API module's
 * functions. scripts/abi.mjs compiles this header with the host's C compiler and writes src/generated/abi.ts
 * from what it prints (`npm run abi`, the first step of the build); test/unit/abi.test.ts fails while that file
 * is not current. Nothing here is written by hand on the TypeScript side.
 *
 * Include <linux/types.h> before it. Every name the C sees starts with GWLB_ (the TypeScript drops that).
 */
#pragma once

/* X(NAME, value, "what it is"): an enum constant GWLB_NAME; a value may use the names before it. */
#define GWLB_CONSTANTS(X)                                                                                          \
  X(GENEVE_PORT, 6081, "UDP port GWLB sends GENEVE to (RFC 8926)")                                                 \
  X(AWS_OPTION_CLASS, 0x0108, "GENEVE option class of the options GWLB adds")                                      \
  X(AWS_ENI_TYPE, 1, "option type: the GWLB endpoint's ENI id (8 bytes)")                                          \
  X(AWS_ATTACHMENT_TYPE, 2, "option type: the attachment id (8 bytes)")                                            \
  X(AWS_COOKIE_TYPE, 3, "option type: the flow cookie (4 bytes)")                                                  \
  X(MAX_HEADER, 64, "the longest GENEVE header a flow keeps, on both data paths (a power of two)")                 \
  X(TUNNEL_SLOTS, 256, "tunnel counter slots: 0 all tunnels, 1 to TUNNEL_SLOTS - 1 a tunnel's index (a power of two)") \
  X(MAX_TUNNELS, GWLB_TUNNEL_SLOTS - 1, "tunnel pairs at most; an index also picks a firewall mark and a routing table") \
  X(MAX_SOURCES, 1024, "--allowed-sources blocks the kernel path takes (its LPM trie is not preallocated)")        \
  X(MAX_BATCH, 256, "packets one batched native call moves")                                                       \
  X(MAX_SEGMENTS, 64, "segments of a GSO packet read from a tunnel (the interfaces' gso_max_segs)")                 \
  X(PER_TUNNEL, 2, "stats entries per tunnel slot: in, then out")                                                  \
  X(STATS_DROPS, GWLB_TUNNEL_SLOTS * GWLB_PER_TUNNEL, "stats index of the first kernel drop reason")              \
  X(STATS_NEW_FLOWS, GWLB_STATS_DROPS + GWLB_KERNEL_DROP_COUNT, "stats index of the flows added to the flow map")  \
  X(STATS_ENTRIES, GWLB_STATS_NEW_FLOWS + 1, "entries of the stats map")

/*
 * X(NAME, "name"): the drops the BPF programs make themselves, in their stats order, under the names the TUN
 * path's decoder gives the same drops (src/appliance/geneve.ts).
 */
#define GWLB_KERNEL_DROPS(X)                         \
  X(SOURCE_NOT_ALLOWED, "source-not-allowed")        \
  X(BAD_VERSION, "bad-version")                      \
  X(OPTIONS_OVERRUN, "options-overrun")              \
  X(OPTION_OVERRUN, "option-overrun")                \
  X(UNKNOWN_CRITICAL_OPTION, "unknown-critical-option") \
  X(MISSING_AWS_OPTION, "missing-aws-option")        \
  X(UNSUPPORTED_PROTOCOL, "unsupported-protocol")

/* X(NAME, name, "what it is"): the numbers recvUdpBatch reports per datagram, in order. */
#define GWLB_RECV_FIELDS(X)                                                                 \
  X(LENGTH, length, "bytes received (more than the slot: cut short, to be dropped)")        \
  X(SENDER_ADDRESS, senderAddress, "the sender's IPv4 address")                             \
  X(SENDER_PORT, senderPort, "the sender's UDP port")                                       \
  X(LOCAL_ADDRESS, localAddress, "the address it was sent to")                              \
  X(SEGMENT, segment, "GRO segment size (0: not merged)")

/* Structures user space reads or writes in the BPF maps. F(type, name, "what it is"). */
#define GWLB_SETTINGS_FIELDS(F)                                            \
  F(__u32, ifindex, "the interface the GWLB reaches")                      \
  F(__u16, port, "GENEVE's port (network order)")                          \
  F(__u16, check_sources, "1: only senders in the sources map")

#define GWLB_TUNNEL_FIELDS(F)                       \
  F(__u32, ifindex, "of gwi-X")                     \
  F(__u32, index, "the tunnel's index in user space, for its counters and activity")

#define GWLB_SOURCE_PREFIX_FIELDS(F)            \
  F(__u32, length, "prefix length (host order)") \
  F(__u32, address, "IPv4 address (network order)")

#define GWLB_COUNTER_FIELDS(F) \
  F(__u64, packets, "")        \
  F(__u64, bytes, "")

/* S(name, FIELDS, "what it is") */
#define GWLB_STRUCTS(S)                                                                    \
  S(settings, GWLB_SETTINGS_FIELDS, "the config map's one value")                           \
  S(tunnel, GWLB_TUNNEL_FIELDS, "the tunnels map's value, by the endpoint's ENI id (u64, host order)") \
  S(source_prefix, GWLB_SOURCE_PREFIX_FIELDS, "the sources map's key")                      \
  S(counter, GWLB_COUNTER_FIELDS, "a stats entry, one per CPU")

/*
 * X(jsName, c_function, "TypeScript signature", "what it does"): the N-API module's functions. gwlb_native.c
 * exports exactly these; the TypeScript interface Native is written from them.
 */
#define GWLB_NATIVE_FUNCTIONS(X)                                                                                   \
  X(openTun, open_tun, "(name: string, multiQueue: boolean, offloads: boolean): number",                           \
    "Opens a TUN queue; offloads: the kernel may hand over GSO packets and partial checksums (readTunBatch cuts and completes them).") \
  X(linkUp, link_up, "(name: string, mtu: number): void", "Sets the MTU and brings the link up.")                   \
  X(openUdp, open_udp, "(port: number, receiveBuffer: number, reuseGroup: number, gro: boolean): number",          \
    "reuseGroup > 0: join a SO_REUSEPORT group of that many sockets, spread by the senders' source ports; gro: take GRO-merged datagrams.") \
  X(openRaw, open_raw, "(sendBuffer: number): number", "A raw IPv4 socket that writes its own headers.")            \
  X(recvUdpBatch, recv_udp_batch,                                                                                  \
    "(fd: number, buf: Buffer, slotSize: number, headroom: number, meta: Uint32Array, max: number): number",      \
    "Datagrams received; meta holds RECV_FIELDS numbers each.")                                                     \
  X(readTunBatch, read_tun_batch,                                                                                  \
    "(fd: number, buf: Buffer, slotSize: number, headroom: number, lengths: Uint32Array, max: number, dropped: Uint32Array): number", \
    "Packets read into slots; a GSO packet is cut into its segments in the slots after it (buf needs MAX_SEGMENTS slots more than max), dropped[0] = packets that could not be cut.") \
  X(writeTunBatch, write_tun_batch,                                                                                \
    "(fds: Int32Array, buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number, merge: boolean, coalesced: Uint32Array): number", \
    "Packets written; with merge, runs of one TCP/UDP flow go as one GSO packet, and coalesced[0] says how many did.") \
  X(sendRawBatch, send_raw_batch,                                                                                  \
    "(fd: number, buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, destinations: Uint32Array, count: number): number", \
    "Packets sent.")                                                                                               \
  X(close, close_fd, "(fd: number): void", "Closes a file descriptor.")                                            \
  X(watch, watch, "(fd: number, onReadable: (status: number) => void): Watch",                                     \
    "onReadable(status): status < 0 (a libuv error) once the fd can no longer be polled, e.g. its TUN interface is gone.") \
  X(unwatch, unwatch, "(watch: Watch): void", "Stops watching.")                                                    \
  X(bpfLoad, bpf_load, "(object: Buffer, maxFlows: number): {maps: Record<string, number>; programs: Record<string, number>}", \
    "Creates the BPF object's maps (flows with maxFlows entries) and loads its programs; their fds by name and section.") \
  X(tcAttach, tc_attach_program, "(ifindex: number, egress: boolean, priority: number, programFd: number, name: string): boolean", \
    "Attaches a tc program (direct action) at this priority, making the clsact qdisc if need be; true if it made it.") \
  X(tcDetach, tc_detach_program, "(ifindex: number, egress: boolean, priority: number, deleteClsact: boolean): boolean", \
    "Removes the tc filter of this priority (and the clsact qdisc, if asked); false if there was none.")            \
  X(bpfMap, bpf_map, "(op: 'update' | 'delete' | 'lookup', fd: number, key: Uint8Array, value?: Uint8Array): boolean", \
    "update, delete or lookup (into value) of one map entry; false: no such key.")                                  \
  X(bpfCountSince, bpf_count, "(fd: number, sinceNs: number): [fresh: number, all: number]",                      \
    "Entries of a hash map whose value starts with a u64 nanosecond time at or after sinceNs, and all its entries, in one scan.")

#define GWLB_ENUM_CONSTANT(name, value, doc) GWLB_##name = (value),
#define GWLB_ENUM_DROP(name, text) GWLB_DROP_##name,
#define GWLB_ENUM_RECV(name, js, doc) GWLB_RECV_##name,
#define GWLB_FIELD(type, name, doc) type name;
#define GWLB_STRUCT(name, fields, doc) \
  struct name {                        \
    fields(GWLB_FIELD)                 \
  };

enum { GWLB_KERNEL_DROPS(GWLB_ENUM_DROP) GWLB_KERNEL_DROP_COUNT };
enum { GWLB_CONSTANTS(GWLB_ENUM_CONSTANT) };
enum { GWLB_RECV_FIELDS(GWLB_ENUM_RECV) GWLB_RECV_FIELD_COUNT };
GWLB_STRUCTS(GWLB_STRUCT)
