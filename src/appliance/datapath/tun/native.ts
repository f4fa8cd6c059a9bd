import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'
import {UserError} from '../../../errors.js'

/** The syscalls Node lacks (native/gwlb_native.c); every call moves a batch of packets through slot buffers. */
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
  /** Most segments in a GSO packet read from a tunnel (the interfaces' gso_max_segs). */
  readonly maxSegments: number
  /** Most packets one batch call moves. */
  readonly maxBatch: number
  /** Numbers recvUdpBatch reports per datagram. */
  readonly recvMeta: number
}

export type Watch = {readonly __watch: unique symbol}

let loaded: Native | undefined

export function native(): Native {
  if (loaded) return loaded
  const require = createRequire(import.meta.url)
  const load = require('node-gyp-build') as (root: string) => Native
  try {
    // A local build (build/Release) if there is one, else the package's prebuild for this platform and CPU.
    // The package root, at the same depth from src/appliance/datapath/tun (sources) and from dist/… (build).
    loaded = load(fileURLToPath(new URL('../../../..', import.meta.url)))
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
