// A producer for tests: a real Ed25519 key, signed envelopes, payload builders.

import { ed25519PublicKey, randomBytes } from '../../src/core/crypto.js';
import { envelopeToJSON, signEnvelope } from '../../src/core/dsse.js';
import { payloadTypeOf, type ProducerKind } from '../../src/core/entry.js';
import { utf8 } from '../../src/core/bytes.js';

export class TestProducer {
  readonly seed = randomBytes(32);
  readonly publicKey = ed25519PublicKey(this.seed);
  envelope(kind: ProducerKind, payload: unknown) {
    return envelopeToJSON(signEnvelope(payloadTypeOf(kind), utf8(JSON.stringify(payload)), this.seed));
  }
}

let n = 0;
export function evidence(extra: Record<string, unknown> = {}) {
  return {
    ts: new Date().toISOString(),
    actor: 'ci-gate',
    action: 'deploy',
    artifact: `registry.example/app@sha256:${(++n).toString(16).padStart(64, '0')}`,
    policy: 'prod-deploy-gate',
    target: 'prod',
    mode: 'enforce',
    trace: `trace-${n}-${Math.random()}`,
    result: 'allow',
    ...extra,
  };
}

export function trustScore(subject: string, score: number) {
  return { subject, ts: new Date().toISOString(), score, components: { attestation: 1, telemetry: score }, model: 'tsm-1', policy: 'default', ttlSeconds: 300 };
}
