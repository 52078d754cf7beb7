// The ledger client library (package export "./client"): everything a
// producer or an auditor needs to use a ledger from another TypeScript
// project, verifying locally rather than trusting the server.
//
//   import { LedgerClient, ProducerKey } from 'ledger/client';
//   const log = new LedgerClient({ url, vkey });
//   const key = ProducerKey.fromPem(pem);
//   const sub = await log.submit(key.signEvidence({ actor, action, ... }));
//   const inc = await log.waitForInclusion(sub); // proof verified against a checkpoint signed by vkey
//
// spec/client.md documents the API, the CLI built on it and the monitor's events.

export {
  LedgerClient,
  LedgerClientError,
  VerifiedTiles,
  parseRetryAfter,
  type BatchResult,
  type GetCheckpointOptions,
  type LedgerClientErrorCode,
  type LedgerClientOptions,
  type RetryOptions,
  type Submission,
  type TreeHead,
  type VerifiedCheckpoint,
  type VerifiedConsistency,
  type VerifiedEntry,
  type VerifiedInclusion,
  type WaitOptions,
} from './client.js';
export { ProducerKey, type EvidencePayload, type SignOptions, type TrustScorePayload } from './signing.js';
export { AuditError, EntryAuditor, type AuditorState, type EntryProblemCode, type EntryVerdict, type ProducerRecord } from './audit.js';
export {
  ALERT_SEVERITY,
  MONITOR_STATE_VERSION,
  Monitor,
  newMonitorState,
  type AlertCode,
  type AlertEvent,
  type CheckpointEvent,
  type EntryEvent,
  type MonitorEvent,
  type MonitorOptions,
  type MonitorSink,
  type MonitorState,
  type PollResult,
  type Severity,
} from './monitor.js';
export type { EnvelopeJSON } from '../core/dsse.js';
export type { ProducerKind } from '../core/entry.js';
