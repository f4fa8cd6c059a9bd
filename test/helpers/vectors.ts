import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

export interface Vector {
  name: string
  udp_payload_hex: string
  valid: boolean
  reason?: string
  vni?: number
  protocol_type?: number
  option_length_bytes?: number
  header_length?: number
  gwlbe_eni_id?: string
  attachment_id?: string
  flow_cookie?: string
  inner_hex?: string
  inner_src?: string
  inner_dst?: string
  inner_proto?: number
  inner_sport?: number
  inner_dport?: number
}

/** The scapy-made GENEVE packets (test/fixtures/vectors, copied from the design's shared vectors; see its README). */
export const vectorsFile = fileURLToPath(new URL('../fixtures/vectors/gwlb-geneve.json', import.meta.url))
export const vectors: Vector[] = (JSON.parse(readFileSync(vectorsFile, 'utf8')) as {vectors: Vector[]}).vectors

export const vector = (name: string): Vector => {
  const v = vectors.find((x) => x.name === name)
  if (!v) throw new Error(`no vector named ${name}`)
  return v
}

export const payload = (v: Vector): Buffer => Buffer.from(v.udp_payload_hex, 'hex')
