import type { ScoreBody, ScoreOutcome, ScoreSink, ScoreSinkStats } from '../../src/quality/score-sink.js';

/** A sink that keeps every score handed to it, in order (what the service queued). */
export function recordingScoreSink(): ScoreSink & { scores: ScoreBody[] } {
  const scores: ScoreBody[] = [];
  const stats = (): ScoreSinkStats => ({ queued: scores.length, delivered: 0, retries: 0, rejected: 0, dropped: 0, lost: 0, notSent: 0, pending: 0 });
  return {
    sending: true,
    scores,
    enqueue(score): ScoreOutcome {
      scores.push(structuredClone(score));
      return 'queued';
    },
    stats,
    flush: () => Promise.resolve(true),
    close: () => Promise.resolve(stats()),
  };
}
