// Writing decapsulated packets into tunnel interfaces opened with IFF_VNET_HDR (see tun_gso.c).
#pragma once
#include <stdint.h>

// Bytes of the virtio_net_hdr before every packet read from or written to a tunnel queue.
#define TUN_VNET_HDR_LEN 10
#include <linux/types.h>
#include "gwlb_abi.h" // GWLB_MAX_BATCH: most packets one call writes; GWLB_MAX_SEGMENTS: in a GSO packet read

// Turns on the offloads that let the kernel hand a tunnel reader GSO packets (and partial checksums).
int tun_enable_offloads(int fd);

// A packet just read (after its virtio_net_hdr `vh`) at `p`, `len` bytes, becomes whole packets in slots:
// itself, its checksum completed, or its segments, cut as the kernel would (the i-th at p + i * slot, so a
// GSO packet must have been read with room to spill over the slots after its own). Returns the packets, or
// -1 if more than `room` slots would be needed or the packet is not what its header says.
int tun_split(const uint8_t *vh, uint8_t *p, uint32_t len, int slot, int room, uint32_t *lens);

// Writes packet i (buf + offsets[i], lens[i] bytes) to fds[i], in order; runs of one TCP or UDP flow go as
// one GSO packet if `merge`. Returns the packets written; *coalesced counts those that went inside a GSO packet.
int tun_write_packets(const int32_t *fds, uint8_t *buf, const uint32_t *offsets, const uint32_t *lens, int count,
                      int merge, uint32_t *coalesced);
