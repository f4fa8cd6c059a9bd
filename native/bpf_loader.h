// gwlb's BPF object loader and tc attachment (bpf_loader.c).
#pragma once
#include <stddef.h>
#include <stdint.h>

#define BPF_LOADED_MAX 16

struct bpf_loaded_map {
  char name[32];
  uint64_t offset; /* in the object's maps section */
  int fd;
};

struct bpf_loaded_program {
  char section[32];
  int fd;
};

struct bpf_loaded {
  struct bpf_loaded_map maps[BPF_LOADED_MAX];
  struct bpf_loaded_program programs[BPF_LOADED_MAX];
  int map_count;
  int program_count;
};

/* Creates the object's maps (the one named "flows" with max_flows entries) and loads its programs: 0, or -1 with error. */
int bpf_load_object(const uint8_t *elf, size_t length, uint32_t max_flows, struct bpf_loaded *out, char *error, size_t size);
/* These return 0 or -errno. */
int tc_add_clsact(int ifindex);
int tc_delete_clsact(int ifindex);
int tc_attach(int ifindex, int egress, uint16_t priority, int program, const char *name);
int tc_detach(int ifindex, int egress, uint16_t priority);
int bpf_map_op(int cmd, int fd, const void *key, void *value, uint64_t flags);
/* Entries whose value starts with a u64 time >= since (into fresh), and all (the return); or -errno. */
long bpf_count_since(int fd, uint64_t since, long *fresh);
