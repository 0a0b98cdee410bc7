/** Stand-in for customer memory: the graph gets record types, never values. */

export interface MemoryRecord {
  recordId: string;
  memoryType: string;
}

export class MemoryStore {
  readonly store = 'customer-profile';
  readonly purpose = 'order-status-support';

  read(subjectId: string): MemoryRecord[] {
    if (subjectId === '') return [];
    return [{ recordId: 'mem_001', memoryType: 'support_preference' }];
  }
}
