// Writing decapsulated packets into tunnel interfaces opened with IFF_VNET_HDR (see tun_gso.c).
#pragma once
#include <stdint.h>

// Bytes of the virtio_net_hdr before every packet read from or written to a tunnel queue.
#define TUN_VNET_HDR_LEN 10
// Most packets one call writes.
#define TUN_MAX_BATCH 256

// Writes packet i (buf + offsets[i], lens[i] bytes) to fds[i], in order; runs of one TCP or UDP flow go as
// one GSO packet. Returns the packets written; *coalesced counts those that went inside a GSO packet.
int tun_write_packets(const int32_t *fds, uint8_t *buf, const uint32_t *offsets, const uint32_t *lens, int count,
                      uint32_t *coalesced);
