import { SpanKind } from '@opentelemetry/api';
import { inSpan } from '../../telemetry/spans.js';
import type { AgentDeps } from '../agent-deps.js';
import type { NodeBody } from '../traced-node.js';

/** Memory read: record types and counts on the span, never subject, record ids or values. */
export const readMemory =
  ({ tracer, memory }: AgentDeps): NodeBody =>
  (state) =>
    inSpan(
      tracer,
      `memory.read ${memory.store}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'app.memory.operation': 'read',
          'app.memory.store': memory.store,
          'app.memory.purpose': memory.purpose,
          'app.memory.policy_decision': 'allowed',
        },
      },
      (span) => {
        const records = memory.read(state.user_id);
        const types = [...new Set(records.map((r) => r.memoryType))].sort();
        span.setAttributes({ 'app.memory.record_count': records.length, 'app.memory.record_types': types });
        return { memory_record_types: types };
      },
    );
