/** What the fleet syncs from the deployment's bucket (staged-versions.ts): the egress policy, the IDS rules. */
export type StagedKind = 'policy' | 'ids'

/** A file checked for the fleet, ready to stage: what it is, its bytes and digest, and what the pointer says of it. */
export interface Checked<M extends object> {
  kind: StagedKind
  /** Where it was read from, for the plan. */
  file: string
  body: Buffer
  sha256: string
  extension: string
  contentType: string
  meta: M
}
