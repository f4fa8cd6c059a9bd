import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'
import {UserError} from '../../errors.js'

/**
 * The syscalls Node lacks (native/gwlb_native.c): for the TUN path, calls that each move a batch of packets
 * through slot buffers; for the BPF path, loading its object, attaching it with tc, and its maps.
 */
export interface Native {
  /** offloads: the kernel may hand over GSO packets and partial checksums (readTunBatch cuts and completes them). */
  openTun(name: string, multiQueue: boolean, offloads: boolean): number
  linkUp(name: string, mtu: number): void
  /** reuseGroup > 0: join a SO_REUSEPORT group of that many sockets, spread by the senders' source ports; gro: take GRO-merged datagrams. */
  openUdp(port: number, receiveBuffer: number, reuseGroup: number, gro: boolean): number
  openRaw(sendBuffer: number): number
  /** Datagrams received; meta holds recvMeta numbers each: length, sender address and port, local address, GRO segment size (0: not merged). */
  recvUdpBatch(fd: number, buf: Buffer, slotSize: number, headroom: number, meta: Uint32Array, max: number): number
  /** Packets read into slots; a GSO packet is cut into its segments in the slots after it (buf needs maxSegments slots more than max), dropped[0] = packets that could not be cut. */
  readTunBatch(fd: number, buf: Buffer, slotSize: number, headroom: number, lengths: Uint32Array, max: number, dropped: Uint32Array): number
  /** Packets written; with merge, runs of one TCP/UDP flow go as one GSO packet, and coalesced[0] says how many did. */
  writeTunBatch(fds: Int32Array, buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number, merge: boolean, coalesced: Uint32Array): number
  sendRawBatch(fd: number, buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, destinations: Uint32Array, count: number): number
  close(fd: number): void
  /** onReadable(status): status < 0 (a libuv error) once the fd can no longer be polled, e.g. its TUN interface is gone. */
  watch(fd: number, onReadable: (status: number) => void): Watch
  unwatch(watch: Watch): void
  /** Creates the BPF object's maps (`flows` with maxFlows entries) and loads its programs; their fds by name and section. */
  bpfLoad(object: Buffer, maxFlows: number): {maps: Record<string, number>; programs: Record<string, number>}
  /** Attaches a tc program (direct action) at this priority, making the clsact qdisc if need be; true if it made it. */
  tcAttach(ifindex: number, egress: boolean, priority: number, programFd: number, name: string): boolean
  /** Removes the tc filter of this priority (and the clsact qdisc, if asked); false if there was none. */
  tcDetach(ifindex: number, egress: boolean, priority: number, deleteClsact: boolean): boolean
  /** update, delete or lookup (into value) of one map entry; false: no such key. */
  bpfMap(op: 'update' | 'delete' | 'lookup', fd: number, key: Uint8Array, value?: Uint8Array): boolean
  /**
   * Entries of a hash map whose value starts with a u64 nanosecond time at or after sinceNs, and all its entries,
   * in one scan (sizes from the map itself).
   */
  bpfCountSince(fd: number, sinceNs: number): [fresh: number, all: number]
  /** Most segments in a GSO packet read from a tunnel (the interfaces' gso_max_segs). */
  readonly maxSegments: number
  /** Most packets one batch call moves. */
  readonly maxBatch: number
  /** Numbers recvUdpBatch reports per datagram. */
  readonly recvMeta: number
}

export type Watch = {readonly __watch: unique symbol}

/** The package root, at the same depth from src/appliance/datapath (sources) and from dist/… (build). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../..', import.meta.url))

let loaded: Native | undefined

export function native(): Native {
  if (loaded) return loaded
  const require = createRequire(import.meta.url)
  const load = require('node-gyp-build') as (root: string) => Native
  try {
    // A local build (build/Release) if there is one, else the package's prebuild for this platform and CPU.
    loaded = load(PACKAGE_ROOT)
  } catch (error) {
    throw new UserError(
      `The data-plane module cannot be loaded (${(error as Error).message.split('\n')[0]})`,
      'this package has prebuilds for linux-x64 and linux-arm64; elsewhere run `npm rebuild gwlb` with make, g++ and python3 installed',
    )
  }
  return loaded
}

/** errno-style errors from the native module carry the errno number as their code. */
export function errnoOf(error: unknown): number {
  return Number((error as {code?: string}).code ?? NaN)
}
