import { SpanKind } from '@opentelemetry/api';
import { inSpan } from '../../telemetry/spans.js';
import type { AgentDeps } from '../agent-deps.js';
import type { NodeBody } from '../traced-node.js';

/** Policy retrieval: document IDs and scores on the span, never query or document text. */
export const retrievePolicy =
  ({ tracer, policies }: AgentDeps): NodeBody =>
  (state) =>
    inSpan(
      tracer,
      `retrieval ${policies.dataSource}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          // Langfuse renders it as a retriever observation, not a plain span.
          'langfuse.observation.type': 'retriever',
          'gen_ai.operation.name': 'retrieval',
          'gen_ai.data_source.id': policies.dataSource,
          'gen_ai.retrieval.top_k': policies.topK,
          'app.retrieval.index.version': policies.indexVersion,
          'app.retrieval.strategy': policies.strategy,
          'app.retrieval.region': state.region,
        },
      },
      (span) => {
        const hits = policies.retrieve(state.query, state.region);
        const ids = hits.map((h) => h.documentId);
        span.setAttributes({
          'app.retrieval.result_count': hits.length,
          'app.retrieval.empty': hits.length === 0,
          'app.retrieval.document_ids': ids,
          'app.retrieval.document_scores': hits.map((h) => h.score),
        });
        return { policy_document_ids: ids };
      },
    );
