// Loads gwlb's BPF object (native/bpf/gwlb.bpf.c, built by clang) and attaches its programs with tc, with no
// library: the object is small and fixed (legacy `maps` section, map relocations only), so its ELF reading,
// the bpf() calls and the two netlink messages of tc fit here, and appliances need neither libbpf nor tc's
// BPF support.
#define _GNU_SOURCE
#include "bpf_loader.h"

#include <arpa/inet.h>
#include <elf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef EM_BPF
#define EM_BPF 247
#endif

static int sys_bpf(int cmd, union bpf_attr *attr) { return (int)syscall(__NR_bpf, cmd, attr, sizeof *attr); }

struct map_def {
  uint32_t type, key_size, value_size, max_entries, map_flags;
};

static const Elf64_Shdr *section(const uint8_t *elf, size_t length, unsigned index) {
  const Elf64_Ehdr *h = (const Elf64_Ehdr *)elf;
  if (index >= h->e_shnum || h->e_shoff + (index + 1) * sizeof(Elf64_Shdr) > length) return NULL;
  const Elf64_Shdr *s = (const Elf64_Shdr *)(elf + h->e_shoff) + index;
  return s->sh_type == SHT_NOBITS || s->sh_offset + s->sh_size <= length ? s : NULL;
}

static const char *section_name(const uint8_t *elf, size_t length, const Elf64_Shdr *s) {
  const Elf64_Shdr *names = section(elf, length, ((const Elf64_Ehdr *)elf)->e_shstrndx);
  return names && s->sh_name < names->sh_size ? (const char *)elf + names->sh_offset + s->sh_name : "";
}

static int fail(char *error, size_t size, const char *what) {
  snprintf(error, size, "%s", what);
  return -1;
}

static void close_all(struct bpf_loaded *out) {
  for (int i = 0; i < out->map_count; i++) close(out->maps[i].fd);
  for (int i = 0; i < out->program_count; i++) close(out->programs[i].fd);
  out->map_count = out->program_count = 0;
}

/* Creates the maps of the `maps` section, in the order of their symbols. */
static int create_maps(const uint8_t *elf, size_t length, const Elf64_Shdr *maps, unsigned maps_index, const Elf64_Shdr *symtab,
                       const Elf64_Shdr *strtab, uint32_t max_flows, struct bpf_loaded *out, char *error, size_t size) {
  const Elf64_Sym *syms = (const Elf64_Sym *)(elf + symtab->sh_offset);
  for (size_t i = 0; i < symtab->sh_size / sizeof *syms; i++) {
    if (syms[i].st_shndx != maps_index || ELF64_ST_TYPE(syms[i].st_info) != STT_OBJECT) continue;
    if (out->map_count == BPF_LOADED_MAX || syms[i].st_value + sizeof(struct map_def) > maps->sh_size) return fail(error, size, "bad maps section");
    const struct map_def *def = (const struct map_def *)(elf + maps->sh_offset + syms[i].st_value);
    struct bpf_loaded_map *m = &out->maps[out->map_count];
    snprintf(m->name, sizeof m->name, "%s", (const char *)elf + strtab->sh_offset + syms[i].st_name);
    m->offset = syms[i].st_value;
    union bpf_attr attr = {0};
    attr.map_type = def->type;
    attr.key_size = def->key_size;
    attr.value_size = def->value_size;
    attr.max_entries = strcmp(m->name, "flows") == 0 ? max_flows : def->max_entries;
    attr.map_flags = def->map_flags;
    snprintf(attr.map_name, sizeof attr.map_name, "gwlb_%.10s", m->name);
    m->fd = sys_bpf(BPF_MAP_CREATE, &attr);
    if (m->fd < 0) {
      snprintf(error, size, "map %s: %s", m->name, strerror(errno));
      return -1;
    }
    out->map_count++;
  }
  return 0;
}

/* Points each map reference (a 64-bit immediate load) of a program at its map's fd. */
static int relocate(const uint8_t *elf, size_t length, const Elf64_Shdr *rel, const Elf64_Shdr *symtab, unsigned maps_index,
                    struct bpf_insn *insns, size_t count, const struct bpf_loaded *out, char *error, size_t size) {
  const Elf64_Rel *r = (const Elf64_Rel *)(elf + rel->sh_offset);
  const Elf64_Sym *syms = (const Elf64_Sym *)(elf + symtab->sh_offset);
  for (size_t i = 0; i < rel->sh_size / sizeof *r; i++) {
    size_t at = r[i].r_offset / sizeof(struct bpf_insn), sym = ELF64_R_SYM(r[i].r_info);
    if (at >= count || sym >= symtab->sh_size / sizeof *syms || syms[sym].st_shndx != maps_index || insns[at].code != (BPF_LD | BPF_IMM | BPF_DW))
      return fail(error, size, "a relocation that is not a map reference");
    int fd = -1;
    for (int m = 0; m < out->map_count; m++)
      if (out->maps[m].offset == syms[sym].st_value) fd = out->maps[m].fd;
    if (fd < 0) return fail(error, size, "a reference to an unknown map");
    insns[at].src_reg = BPF_PSEUDO_MAP_FD;
    insns[at].imm = fd;
  }
  return 0;
}

static int load_program(const char *name, struct bpf_insn *insns, size_t count, const char *license, char *error, size_t size) {
  static char log[1 << 16];
  union bpf_attr attr = {0};
  attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
  attr.insns = (uintptr_t)insns;
  attr.insn_cnt = (uint32_t)count;
  attr.license = (uintptr_t)license;
  snprintf(attr.prog_name, sizeof attr.prog_name, "%.15s", name);
  int fd = sys_bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) return fd;
  // Again with the verifier's log, for the error.
  attr.log_buf = (uintptr_t)log;
  attr.log_size = sizeof log;
  attr.log_level = 1;
  log[0] = 0;
  int code = errno;
  fd = sys_bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) return fd;
  size_t n = strlen(log);
  const char *tail = n > 400 ? log + n - 400 : log;
  snprintf(error, size, "program %s: %s%s%s", name, strerror(code), *tail ? "; verifier: " : "", tail);
  return -1;
}

int bpf_load_object(const uint8_t *elf, size_t length, uint32_t max_flows, struct bpf_loaded *out, char *error, size_t size) {
  memset(out, 0, sizeof *out);
  const Elf64_Ehdr *h = (const Elf64_Ehdr *)elf;
  if (length < sizeof *h || memcmp(h->e_ident, ELFMAG, SELFMAG) || h->e_ident[EI_CLASS] != ELFCLASS64 || h->e_machine != EM_BPF)
    return fail(error, size, "not a 64-bit BPF ELF object");
  const Elf64_Shdr *maps = NULL, *symtab = NULL, *strtab = NULL;
  unsigned maps_index = 0;
  const char *license = "GPL";
  for (unsigned i = 0; i < h->e_shnum; i++) {
    const Elf64_Shdr *s = section(elf, length, i);
    if (!s) return fail(error, size, "a section past the end of the object");
    const char *name = section_name(elf, length, s);
    if (strcmp(name, "maps") == 0) maps = s, maps_index = i;
    else if (strcmp(name, "license") == 0) license = (const char *)elf + s->sh_offset;
    else if (s->sh_type == SHT_SYMTAB) symtab = s, strtab = section(elf, length, s->sh_link);
  }
  if (!maps || !symtab || !strtab) return fail(error, size, "no maps or symbols in the object");
  if (create_maps(elf, length, maps, maps_index, symtab, strtab, max_flows, out, error, size)) goto failed;
  for (unsigned i = 0; i < h->e_shnum; i++) {
    const Elf64_Shdr *s = section(elf, length, i);
    const char *name = section_name(elf, length, s);
    if (s->sh_type != SHT_PROGBITS || !(s->sh_flags & SHF_EXECINSTR) || s->sh_size == 0) continue;
    if (out->program_count == BPF_LOADED_MAX) return fail(error, size, "too many programs");
    size_t count = s->sh_size / sizeof(struct bpf_insn);
    struct bpf_insn *insns = malloc(s->sh_size);
    if (!insns) return fail(error, size, "out of memory");
    memcpy(insns, elf + s->sh_offset, s->sh_size);
    for (unsigned j = 0; j < h->e_shnum; j++) {
      const Elf64_Shdr *rel = section(elf, length, j);
      if (rel->sh_type == SHT_REL && rel->sh_info == i && relocate(elf, length, rel, symtab, maps_index, insns, count, out, error, size)) {
        free(insns);
        goto failed;
      }
    }
    struct bpf_loaded_program *p = &out->programs[out->program_count];
    snprintf(p->section, sizeof p->section, "%s", name);
    p->fd = load_program(strchr(name, '/') ? strchr(name, '/') + 1 : name, insns, count, license, error, size);
    free(insns);
    if (p->fd < 0) goto failed;
    out->program_count++;
  }
  return 0;
failed:
  close_all(out);
  return -1;
}

/* One rtnetlink request and its acknowledgement: 0, or -errno. */
static int rtnl(struct nlmsghdr *request) {
  int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (sock < 0) return -errno;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  int result = -EIO;
  if (sendto(sock, request, request->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    result = -errno;
  } else {
    char answer[4096];
    ssize_t n = recv(sock, answer, sizeof answer, 0);
    struct nlmsghdr *a = (struct nlmsghdr *)answer;
    if (n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && a->nlmsg_type == NLMSG_ERROR) result = ((struct nlmsgerr *)NLMSG_DATA(a))->error;
  }
  close(sock);
  return result;
}

struct tc_request {
  struct nlmsghdr header;
  struct tcmsg tc;
  char attributes[256];
};

static struct rtattr *attribute(struct nlmsghdr *h, unsigned short type, const void *data, size_t length) {
  struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(length);
  if (data) memcpy(RTA_DATA(a), data, length);
  h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

static void tc_message(struct tc_request *r, unsigned short type, unsigned short flags, int ifindex) {
  memset(r, 0, sizeof *r);
  r->header.nlmsg_len = NLMSG_LENGTH(sizeof r->tc);
  r->header.nlmsg_type = type;
  r->header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  r->tc.tcm_family = AF_UNSPEC;
  r->tc.tcm_ifindex = ifindex;
}

int tc_add_clsact(int ifindex) {
  struct tc_request r;
  tc_message(&r, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex);
  r.tc.tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0);
  r.tc.tcm_parent = TC_H_CLSACT;
  attribute(&r.header, TCA_KIND, "clsact", sizeof "clsact");
  return rtnl(&r.header);
}

int tc_delete_clsact(int ifindex) {
  struct tc_request r;
  tc_message(&r, RTM_DELQDISC, 0, ifindex);
  r.tc.tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0);
  r.tc.tcm_parent = TC_H_CLSACT;
  return rtnl(&r.header);
}

static uint32_t tc_parent(int egress) { return TC_H_MAKE(TC_H_CLSACT, egress ? TC_H_MIN_EGRESS : TC_H_MIN_INGRESS); }

int tc_attach(int ifindex, int egress, uint16_t priority, int program, const char *name) {
  struct tc_request r;
  tc_message(&r, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_REPLACE, ifindex);
  r.tc.tcm_parent = tc_parent(egress);
  r.tc.tcm_handle = 1;
  r.tc.tcm_info = TC_H_MAKE((uint32_t)priority << 16, htons(ETH_P_ALL));
  attribute(&r.header, TCA_KIND, "bpf", sizeof "bpf");
  struct rtattr *options = attribute(&r.header, TCA_OPTIONS, NULL, 0);
  uint32_t fd = (uint32_t)program, flags = TCA_BPF_FLAG_ACT_DIRECT;
  attribute(&r.header, TCA_BPF_FD, &fd, sizeof fd);
  attribute(&r.header, TCA_BPF_NAME, name, strlen(name) + 1);
  attribute(&r.header, TCA_BPF_FLAGS, &flags, sizeof flags);
  options->rta_len = (unsigned short)((char *)&r + r.header.nlmsg_len - (char *)options);
  return rtnl(&r.header);
}

int tc_detach(int ifindex, int egress, uint16_t priority) {
  struct tc_request r;
  tc_message(&r, RTM_DELTFILTER, 0, ifindex);
  r.tc.tcm_parent = tc_parent(egress);
  r.tc.tcm_info = TC_H_MAKE((uint32_t)priority << 16, htons(ETH_P_ALL));
  attribute(&r.header, TCA_KIND, "bpf", sizeof "bpf");
  return rtnl(&r.header);
}

int bpf_map_op(int cmd, int fd, const void *key, void *value, uint64_t flags) {
  union bpf_attr attr = {0};
  attr.map_fd = (uint32_t)fd;
  attr.key = (uintptr_t)key;
  attr.value = (uintptr_t)value;
  attr.flags = flags;
  return sys_bpf(cmd, &attr) < 0 ? -errno : 0;
}

long bpf_count_since(int fd, uint64_t since, long *fresh) {
  // In batches of 1024 entries (one call each, Linux 5.6+): a table of 100,000 flows is counted in ~100 calls.
  enum { BATCH = 1024 };
  static uint8_t keys[BATCH * 64], values[BATCH * 256];
  struct bpf_map_info map = {0};
  union bpf_attr info = {0};
  info.info.bpf_fd = (uint32_t)fd;
  info.info.info_len = sizeof map;
  info.info.info = (uintptr_t)&map;
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &info) < 0) return -errno;
  uint32_t value_size = map.value_size;
  if (map.key_size > 64 || value_size > 256) return -EINVAL;
  uint64_t token = 0;
  long all = 0;
  *fresh = 0;
  for (int first = 1;; first = 0) {
    union bpf_attr attr = {0};
    attr.batch.in_batch = first ? 0 : (uintptr_t)&token;
    attr.batch.out_batch = (uintptr_t)&token;
    attr.batch.keys = (uintptr_t)keys;
    attr.batch.values = (uintptr_t)values;
    attr.batch.count = BATCH;
    attr.batch.map_fd = (uint32_t)fd;
    int r = sys_bpf(BPF_MAP_LOOKUP_BATCH, &attr);
    if (r < 0 && errno != ENOENT) return -errno;
    for (uint32_t i = 0; i < attr.batch.count; i++) {
      uint64_t seen;
      memcpy(&seen, values + (size_t)i * value_size, sizeof seen);
      if (seen >= since) ++*fresh;
    }
    all += attr.batch.count;
    if (r < 0) return all; // ENOENT: that was the last batch
  }
}
