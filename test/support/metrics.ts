import type { Attributes } from '@opentelemetry/api';
import { DataPointType, MeterProvider, MetricReader, type DataPoint, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';
import { ServiceMetrics } from '../../src/telemetry/metrics.js';

/** Collects on demand (the SDK's own tests use the same pull reader). */
class PullReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface TestMetrics {
  metrics: ServiceMetrics;
  /** Every metric recorded so far (cumulative). */
  collect(): Promise<MetricData[]>;
  /** One metric by name; throws naming the ones present when it is missing. */
  metric(name: string): Promise<MetricData>;
}

/** Fresh instruments on an in-memory MeterProvider (one per test: no state shared between tests). */
export function testMetrics(): TestMetrics {
  const reader = new PullReader();
  const provider = new MeterProvider({ readers: [reader] });
  const collect = async (): Promise<MetricData[]> => {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length > 0) throw new Error(`metric collection failed: ${errors.map(String).join('; ')}`);
    return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
  };
  return {
    metrics: new ServiceMetrics(provider.getMeter('test')),
    collect,
    metric: async (name) => {
      const all = await collect();
      const found = all.find((m) => m.descriptor.name === name);
      if (!found) throw new Error(`no metric ${name}; recorded: ${all.map((m) => m.descriptor.name).join(', ')}`);
      return found;
    },
  };
}

/** The data point whose attributes equal `attributes` exactly. */
export function point<T>(metric: MetricData, attributes: Attributes): DataPoint<T> {
  const key = JSON.stringify(Object.entries(attributes).sort(([a], [b]) => a.localeCompare(b)));
  const found = (metric.dataPoints as DataPoint<T>[]).find(
    (p) => JSON.stringify(Object.entries(p.attributes).sort(([a], [b]) => a.localeCompare(b))) === key,
  );
  if (!found) {
    throw new Error(`${metric.descriptor.name}: no point with ${key}; points: ${metric.dataPoints.map((p) => JSON.stringify(p.attributes)).join(' | ')}`);
  }
  return found;
}

export const sumOf = (metric: MetricData, attributes: Attributes): number => point<number>(metric, attributes).value;

export function histogramOf(metric: MetricData, attributes: Attributes): Histogram {
  if (metric.dataPointType !== DataPointType.HISTOGRAM) throw new Error(`${metric.descriptor.name} is not a histogram`);
  return point<Histogram>(metric, attributes).value;
}
