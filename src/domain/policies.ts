/** Stand-in for the support-policy index: the graph gets document IDs, never text. */

export interface PolicyHit {
  documentId: string;
  score: number;
}

/** Regions the index holds policy documents for; any other region retrieves nothing. */
export const POLICY_REGIONS: readonly string[] = ['eu', 'uk', 'us'];

export class PolicyRetriever {
  readonly dataSource = 'support-policy';
  readonly indexVersion = '2026-06-15';
  readonly strategy = 'hybrid-rerank';
  readonly topK = 5;

  constructor(readonly regions: readonly string[] = POLICY_REGIONS) {}

  retrieve(query: string, region: string): PolicyHit[] {
    if (!this.regions.includes(region)) return [];
    const hits: PolicyHit[] = [
      { documentId: `policy-${region}-shipping-v14`, score: 0.91 },
      { documentId: `policy-${region}-escalation-v3`, score: 0.72 },
    ];
    if (query.toLowerCase().includes('refund')) hits.push({ documentId: `policy-${region}-refunds-v8`, score: 0.68 });
    return hits.slice(0, this.topK);
  }
}
