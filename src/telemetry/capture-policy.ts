/**
 * Content capture policy (book ch 17). `metadata_only` never exports raw query,
 * prompt or answer text; `redacted` exports a short redacted preview of the
 * answer, and only when redaction verifiably removed what it must.
 */
export type CaptureMode = 'metadata_only' | 'redacted';
export const CAPTURE_POLICY_VERSION = 'capture-policy-1';

export interface CaptureProjection {
  capture_mode: CaptureMode;
  capture_policy_version: string;
  redacted_preview?: string;
}

const EMAIL = /[\w.+-]+@[\w-]+(\.[\w-]+)+/g;
const ORDER_REFERENCE = /ORDER-[A-Z0-9-]+/gi;
const LONG_NUMBER = /\d{6,}/g;

export function redactText(value: string): string {
  return value.replace(EMAIL, '[email]').replace(ORDER_REFERENCE, '[order_id]').replace(LONG_NUMBER, '[number]');
}

export class CapturePolicy {
  constructor(readonly mode: CaptureMode) {}

  project(value: string): CaptureProjection {
    const base = { capture_mode: this.mode, capture_policy_version: CAPTURE_POLICY_VERSION };
    if (this.mode === 'metadata_only') return base;
    const preview = redactText(value).slice(0, 160);
    // Fail closed: if anything forbidden survived redaction, export nothing.
    if (preview.includes('@') || /ORDER-/i.test(preview)) return base;
    return { ...base, redacted_preview: preview };
  }
}
