// The few Linux syscalls Node.js lacks, for the GENEVE forwarder: TUN devices, batched UDP receive with the
// local address (recvmmsg + IP_PKTINFO), batched raw IPv4 sends (sendmmsg) and batched TUN reads/writes, plus
// a readiness watcher on the libuv loop. Packets live in one caller-owned buffer cut into fixed slots, so the
// hot path allocates nothing: every call fills or drains a batch of slots and returns a count.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "bpf_loader.h"
#include "tun_gso.h"
#include <linux/bpf.h>
#include <linux/types.h>
#include "gwlb_abi.h"

#define MAX_BATCH GWLB_MAX_BATCH

// Declares argv[n] holding the call's first n arguments (missing ones read as undefined).
#define ARGS(n)            \
  size_t argc = (n);       \
  napi_value argv[(n)];    \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

// Points message i of a batch at its buffer and address.
static void set_message(struct mmsghdr *msg, struct iovec *iov, void *base, size_t length, struct sockaddr_in *addr) {
  iov->iov_base = base;
  iov->iov_len = length;
  memset(&msg->msg_hdr, 0, sizeof msg->msg_hdr);
  msg->msg_hdr.msg_iov = iov;
  msg->msg_hdr.msg_iovlen = 1;
  msg->msg_hdr.msg_name = addr;
  msg->msg_hdr.msg_namelen = sizeof *addr;
}

static napi_value throw_errno(napi_env env, const char *what) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  char code[32];
  snprintf(code, sizeof code, "%d", errno);
  napi_throw_error(env, code, message);
  return NULL;
}

static int32_t arg_i32(napi_env env, napi_value v) {
  int32_t out = 0;
  napi_get_value_int32(env, v, &out);
  return out;
}

static napi_value num(napi_env env, double n) {
  napi_value out;
  napi_create_double(env, n, &out);
  return out;
}

static void *buffer_data(napi_env env, napi_value v, size_t *length) {
  void *data = NULL;
  size_t len = 0;
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    size_t count;
    napi_value arraybuffer;
    size_t offset;
    napi_get_typedarray_info(env, v, &type, &count, &data, &arraybuffer, &offset);
    size_t width = (type == napi_uint32_array || type == napi_int32_array) ? 4 : 1;
    len = count * width;
  } else {
    napi_get_buffer_info(env, v, &data, &len);
  }
  if (length) *length = len;
  return data;
}

static int set_ifflags_up_mtu(const char *name, int mtu) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ifr.ifr_mtu = mtu;
  int rc = ioctl(s, SIOCSIFMTU, &ifr);
  // A longer queue than TUN's 500 packets rides out the moments the reader is busy with the other side.
  ifr.ifr_qlen = 4096;
  if (rc == 0) rc = ioctl(s, SIOCSIFTXQLEN, &ifr);
  if (rc == 0) rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int saved = errno;
  close(s);
  errno = saved;
  return rc;
}

// openTun(name, multiQueue, offloads) -> fd. The interface exists (down) while a queue fd is open. Every
// packet read or written carries a virtio_net_hdr, so that writes can be GSO packets (tun_gso.c); with
// offloads (TUNSETOFFLOAD) a packet read may be a GSO packet too, which readTunBatch cuts up.
static napi_value open_tun(napi_env env, napi_callback_info info) {
  ARGS(3);
  char name[IFNAMSIZ];
  size_t name_len;
  napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len);
  bool multi = false, offloads = false;
  napi_get_value_bool(env, argv[1], &multi);
  napi_get_value_bool(env, argv[2], &offloads);

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | (multi ? IFF_MULTI_QUEUE : 0);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return throw_errno(env, "TUNSETIFF");
  }
  if (offloads) tun_enable_offloads(fd);  // where refused, the kernel segments for us: slower, still right
  return num(env, fd);
}

// linkUp(name, mtu): sets the MTU and brings the interface up.
static napi_value link_up(napi_env env, napi_callback_info info) {
  ARGS(2);
  char name[IFNAMSIZ];
  size_t name_len;
  napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len);
  if (set_ifflags_up_mtu(name, arg_i32(env, argv[1])) < 0) return throw_errno(env, "bring interface up");
  return NULL;
}

// Spreads a SO_REUSEPORT group's datagrams by the sender's UDP source port (GENEVE senders derive it from
// the inner flow), so a flow stays on one socket and flows spread evenly rather than as the default hash
// happens to fall. Runs with the packet at the UDP payload; the port is read through the network header.
static int balance_by_source_port(int fd, int sockets) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, SKF_NET_OFF + 20),  // outer IPv4 header without options (GWLB's)
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (unsigned)sockets),
      BPF_STMT(BPF_RET | BPF_A, 0),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}

// openUdp(port, rcvbuf, reuseGroupSize, gro) -> fd, bound to 0.0.0.0:port, reporting each datagram's local
// address; with reuseGroupSize > 0 it joins a SO_REUSEPORT group of that many sockets. With gro, datagrams of
// one sender that GRO merged (on the NIC) arrive as one, with their size in the meta (recvUdpBatch).
static napi_value open_udp(napi_env env, napi_callback_info info) {
  ARGS(4);
  int port = arg_i32(env, argv[0]);
  int rcvbuf = arg_i32(env, argv[1]);
  int group = arg_i32(env, argv[2]);
  bool reuse = group > 0, gro = false;
  napi_get_value_bool(env, argv[3], &gro);

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(UDP)");
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  if (gro) setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof one);  // kernels before 5.0 lack it: no harm
  if (reuse) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // FORCE lifts the rmem_max cap where we may (root); fall back to the capped size otherwise.
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(INADDR_ANY)}};
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return throw_errno(env, "bind UDP");
  }
  if (group > 1) balance_by_source_port(fd, group);  // without it the kernel's hash still spreads flows
  return num(env, fd);
}

// openRaw(sndbuf) -> fd of a raw IPv4 socket whose packets carry their own IP header (IPPROTO_RAW).
static napi_value open_raw(napi_env env, napi_callback_info info) {
  ARGS(1);
  int sndbuf = arg_i32(env, argv[0]);
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) return throw_errno(env, "socket(RAW)");
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  return num(env, fd);
}

// The arguments both batch readers take: (fd, buf, slotSize, headroom, out array, max).
typedef struct {
  int fd;
  uint8_t *buf;
  int slot;
  int headroom;
  uint32_t *out;
  int max;
  int capacity;  // slots in buf
} slot_batch;

static slot_batch slot_batch_args(napi_env env, napi_value *argv) {
  slot_batch b;
  size_t buf_len;
  b.fd = arg_i32(env, argv[0]);
  b.buf = buffer_data(env, argv[1], &buf_len);
  b.slot = arg_i32(env, argv[2]);
  b.headroom = arg_i32(env, argv[3]);
  b.out = buffer_data(env, argv[4], NULL);
  b.max = arg_i32(env, argv[5]);
  if (b.max > MAX_BATCH) b.max = MAX_BATCH;
  b.capacity = b.slot > 0 ? buf_len / b.slot : 0;
  if (b.max > b.capacity) b.max = b.capacity;
  return b;
}

// recvUdpBatch(fd, buf, slotSize, headroom, meta, max) -> count. Datagram i lands at i*slotSize+headroom;
// meta[5i..5i+4] = length, source IPv4 (host order), source port, local IPv4 it was sent to (host order), and
// the size of each datagram inside it if GRO merged several (0 otherwise).
static napi_value recv_udp_batch(napi_env env, napi_callback_info info) {
  ARGS(6);
  slot_batch b = slot_batch_args(env, argv);
  int fd = b.fd, slot = b.slot, headroom = b.headroom, max = b.max;
  uint8_t *buf = b.buf;
  uint32_t *meta = b.out;

  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iovs[MAX_BATCH];
  struct sockaddr_in from[MAX_BATCH];
  char control[MAX_BATCH][CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(int))];
  for (int i = 0; i < max; i++) {
    set_message(&msgs[i], &iovs[i], buf + (size_t)i * slot + headroom, slot - headroom, &from[i]);
    msgs[i].msg_hdr.msg_control = control[i];
    msgs[i].msg_hdr.msg_controllen = sizeof control[i];
  }
  int n = recvmmsg(fd, msgs, max, MSG_DONTWAIT, NULL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return num(env, 0);
    return throw_errno(env, "recvmmsg");
  }
  for (int i = 0; i < n; i++) {
    uint32_t local = 0, segment = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
        local = ntohl(((struct in_pktinfo *)CMSG_DATA(c))->ipi_addr.s_addr);
      if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) memcpy(&segment, CMSG_DATA(c), sizeof segment);
    }
    uint32_t *m = meta + i * GWLB_RECV_FIELD_COUNT;
    // A datagram cut short by the slot is reported as longer than the slot, so the caller drops it.
    m[GWLB_RECV_LENGTH] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? (uint32_t)slot : msgs[i].msg_len;
    m[GWLB_RECV_SENDER_ADDRESS] = ntohl(from[i].sin_addr.s_addr);
    m[GWLB_RECV_SENDER_PORT] = ntohs(from[i].sin_port);
    m[GWLB_RECV_LOCAL_ADDRESS] = local;
    m[GWLB_RECV_SEGMENT] = segment;
  }
  return num(env, n);
}

// readTunBatch(fd, buf, slotSize, headroom, lens, max, dropped) -> packets now in slots, reading until EAGAIN
// or `max`. A GSO packet spills over the slots after its own and is cut into them, so buf needs
// GWLB_MAX_SEGMENTS slots more than max; dropped[0] = packets that could not be cut.
static napi_value read_tun_batch(napi_env env, napi_callback_info info) {
  ARGS(7);
  slot_batch b = slot_batch_args(env, argv);
  int fd = b.fd, slot = b.slot, headroom = b.headroom;
  uint32_t *lens = b.out;
  uint32_t *dropped = buffer_data(env, argv[6], NULL);
  dropped[0] = 0;
  int n = 0;
  while (n < b.max) {
    uint8_t *at = b.buf + (size_t)n * slot + headroom;  // the virtio_net_hdr goes just before, in the headroom
    ssize_t r = read(fd, at - TUN_VNET_HDR_LEN, (size_t)(b.capacity - n) * slot - headroom + TUN_VNET_HDR_LEN);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      if (n > 0) break;
      return throw_errno(env, "read tun");
    }
    if (r < TUN_VNET_HDR_LEN) continue;
    uint8_t vh[TUN_VNET_HDR_LEN];
    memcpy(vh, at - TUN_VNET_HDR_LEN, sizeof vh);
    int got = tun_split(vh, at, (uint32_t)(r - TUN_VNET_HDR_LEN), slot, b.capacity - n, lens + n);
    if (got < 0)
      dropped[0]++;
    else
      n += got;
  }
  return num(env, n);
}

// writeTunBatch(fds, buf, offsets, lens, count, merge, coalesced) -> packets written (what the kernel refuses
// is dropped, as a NIC would); coalesced[0] = how many of them went inside GSO packets.
static napi_value write_tun_batch(napi_env env, napi_callback_info info) {
  ARGS(7);
  int32_t *fds = buffer_data(env, argv[0], NULL);
  uint8_t *buf = buffer_data(env, argv[1], NULL);
  uint32_t *offsets = buffer_data(env, argv[2], NULL);
  uint32_t *lens = buffer_data(env, argv[3], NULL);
  int count = arg_i32(env, argv[4]);
  bool merge = false;
  napi_get_value_bool(env, argv[5], &merge);
  uint32_t *coalesced = buffer_data(env, argv[6], NULL);
  return num(env, tun_write_packets(fds, buf, offsets, lens, count, merge, coalesced));
}

// sendRawBatch(fd, buf, offsets, lens, dsts, count) -> packets sent. Each packet is a whole IPv4 datagram.
static napi_value send_raw_batch(napi_env env, napi_callback_info info) {
  ARGS(6);
  int fd = arg_i32(env, argv[0]);
  uint8_t *buf = buffer_data(env, argv[1], NULL);
  uint32_t *offsets = buffer_data(env, argv[2], NULL);
  uint32_t *lens = buffer_data(env, argv[3], NULL);
  uint32_t *dsts = buffer_data(env, argv[4], NULL);
  int count = arg_i32(env, argv[5]);
  if (count > MAX_BATCH) count = MAX_BATCH;
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iovs[MAX_BATCH];
  struct sockaddr_in to[MAX_BATCH];
  for (int i = 0; i < count; i++) {
    memset(&to[i], 0, sizeof to[i]);
    to[i].sin_family = AF_INET;
    to[i].sin_addr.s_addr = htonl(dsts[i]);
    set_message(&msgs[i], &iovs[i], buf + offsets[i], lens[i], &to[i]);
  }
  int done = 0, sent = 0;
  while (done < count) {
    int n = sendmmsg(fd, msgs + done, count - done, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      done++;  // skip the packet the kernel refused (full buffer, no route) and carry on with the rest
      continue;
    }
    done += n;
    sent += n;
  }
  return num(env, sent);
}

static napi_value close_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  close(arg_i32(env, argv[0]));
  return NULL;
}

// --- readiness watcher: calls a JS function each time the fd is readable (level-triggered) ---

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
} watcher_t;

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  watcher_t *w = handle->data;
  napi_handle_scope scope;
  napi_open_handle_scope(w->env, &scope);
  napi_value fn, global, result, arg = num(w->env, status);
  napi_get_reference_value(w->env, w->callback, &fn);
  napi_get_global(w->env, &global);
  if (napi_make_callback(w->env, w->context, global, fn, 1, &arg, &result) == napi_pending_exception) {
    // A throw in the callback must not vanish here: it ends the thread, as an uncaught exception does.
    napi_value error;
    napi_get_and_clear_last_exception(w->env, &error);
    napi_fatal_exception(w->env, error);
  }
  napi_close_handle_scope(w->env, scope);
}

static void free_watcher(uv_handle_t *handle) { free(handle->data); }

static void finalize_watcher(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  (void)hint;
}

// watch(fd, callback) -> handle object; unwatch(handle) stops it.
static napi_value watch(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = arg_i32(env, argv[0]);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  watcher_t *w = calloc(1, sizeof *w);
  w->env = env;
  napi_create_reference(env, argv[1], 1, &w->callback);
  napi_value name;
  napi_create_string_utf8(env, "gwlb:watch", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &w->context);
  if (uv_poll_init(loop, &w->poll, fd) != 0) {
    napi_delete_reference(env, w->callback);
    napi_async_destroy(env, w->context);
    free(w);
    napi_throw_error(env, NULL, "uv_poll_init failed");
    return NULL;
  }
  w->poll.data = w;
  uv_poll_start(&w->poll, UV_READABLE, on_readable);
  napi_value handle;
  napi_create_external(env, w, finalize_watcher, NULL, &handle);
  return handle;
}

static napi_value unwatch(napi_env env, napi_callback_info info) {
  ARGS(1);
  watcher_t *w;
  napi_get_value_external(env, argv[0], (void **)&w);
  if (!w || !w->callback) return NULL;
  uv_poll_stop(&w->poll);
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->context);
  w->callback = NULL;
  uv_close((uv_handle_t *)&w->poll, free_watcher);
  return NULL;
}

// The BPF fast path's control (bpf_loader.c): -errno results become errno-coded errors.
static napi_value throw_code(napi_env env, int negative_errno, const char *what) {
  errno = -negative_errno;
  return throw_errno(env, what);
}

// bpfLoad(object, maxFlows) -> {maps: {name: fd}, programs: {section: fd}}
static napi_value bpf_load(napi_env env, napi_callback_info info) {
  ARGS(2);
  size_t length;
  const uint8_t *elf = buffer_data(env, argv[0], &length);
  struct bpf_loaded loaded;
  char error[600];
  if (!elf || bpf_load_object(elf, length, (uint32_t)arg_i32(env, argv[1]), &loaded, error, sizeof error)) {
    napi_throw_error(env, "EBPFLOAD", elf ? error : "the object must be a Buffer");
    return NULL;
  }
  napi_value out, maps, programs;
  napi_create_object(env, &out);
  napi_create_object(env, &maps);
  napi_create_object(env, &programs);
  for (int i = 0; i < loaded.map_count; i++) napi_set_named_property(env, maps, loaded.maps[i].name, num(env, loaded.maps[i].fd));
  for (int i = 0; i < loaded.program_count; i++) napi_set_named_property(env, programs, loaded.programs[i].section, num(env, loaded.programs[i].fd));
  napi_set_named_property(env, out, "maps", maps);
  napi_set_named_property(env, out, "programs", programs);
  return out;
}

// tcAttach(ifindex, egress, priority, programFd, name): makes the clsact qdisc if need be; true if it did.
static napi_value tc_attach_program(napi_env env, napi_callback_info info) {
  ARGS(5);
  int ifindex = arg_i32(env, argv[0]);
  bool egress = false;
  napi_get_value_bool(env, argv[1], &egress);
  char name[64] = "";
  napi_get_value_string_utf8(env, argv[4], name, sizeof name, NULL);
  int made = tc_add_clsact(ifindex);
  if (made < 0 && made != -EEXIST) return throw_code(env, made, "tc qdisc add clsact");
  int r = tc_attach(ifindex, egress, (uint16_t)arg_i32(env, argv[2]), arg_i32(env, argv[3]), name);
  if (r < 0) return throw_code(env, r, "tc filter add bpf");
  napi_value out;
  napi_get_boolean(env, made == 0, &out);
  return out;
}

// tcDetach(ifindex, egress, priority, dropClsact): false if there was nothing to remove.
static napi_value tc_detach_program(napi_env env, napi_callback_info info) {
  ARGS(4);
  int ifindex = arg_i32(env, argv[0]);
  bool egress = false, clsact = false;
  napi_get_value_bool(env, argv[1], &egress);
  napi_get_value_bool(env, argv[3], &clsact);
  int r = tc_detach(ifindex, egress, (uint16_t)arg_i32(env, argv[2]));
  if (r < 0 && r != -ENOENT && r != -EINVAL && r != -ENODEV) return throw_code(env, r, "tc filter del");
  if (clsact) tc_delete_clsact(ifindex);
  napi_value out;
  napi_get_boolean(env, r == 0, &out);
  return out;
}

// bpfMap(op, fd, key, value?): 'update' | 'delete' | 'lookup' (false: no such key).
static napi_value bpf_map(napi_env env, napi_callback_info info) {
  ARGS(4);
  char op[8] = "";
  napi_get_value_string_utf8(env, argv[0], op, sizeof op, NULL);
  size_t key_length, value_length = 0;
  void *key = buffer_data(env, argv[2], &key_length);
  void *value = argc > 3 ? buffer_data(env, argv[3], &value_length) : NULL;
  int cmd = strcmp(op, "update") == 0 ? BPF_MAP_UPDATE_ELEM : strcmp(op, "delete") == 0 ? BPF_MAP_DELETE_ELEM : BPF_MAP_LOOKUP_ELEM;
  int r = bpf_map_op(cmd, arg_i32(env, argv[1]), key, value, 0);
  if (r == -ENOENT && cmd != BPF_MAP_UPDATE_ELEM) {
    napi_value no;
    napi_get_boolean(env, false, &no);
    return no;
  }
  if (r < 0) return throw_code(env, r, "bpf map");
  napi_value yes;
  napi_get_boolean(env, true, &yes);
  return yes;
}

// bpfCountSince(fd, sinceNs): [entries seen since then (their value's first u64), all entries], in one scan.
static napi_value bpf_count(napi_env env, napi_callback_info info) {
  ARGS(2);
  double since = 0;
  napi_get_value_double(env, argv[1], &since);
  long fresh = 0;
  long all = bpf_count_since(arg_i32(env, argv[0]), (uint64_t)since, &fresh);
  if (all < 0) return throw_code(env, (int)all, "bpf map count");
  napi_value counts;
  napi_create_array_with_length(env, 2, &counts);
  napi_set_element(env, counts, 0, num(env, (double)fresh));
  napi_set_element(env, counts, 1, num(env, (double)all));
  return counts;
}

#define DECLARE_FUNCTION(js, c, signature, doc) static napi_value c(napi_env env, napi_callback_info info);
GWLB_NATIVE_FUNCTIONS(DECLARE_FUNCTION)
#define EXPORT_FUNCTION(js, c, signature, doc) {#js, NULL, c, NULL, NULL, NULL, napi_default, NULL},

// Exactly the functions gwlb_abi.h lists (which the TypeScript interface is generated from).
static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {GWLB_NATIVE_FUNCTIONS(EXPORT_FUNCTION)};
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
