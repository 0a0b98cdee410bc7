/** Stand-in for the order system, with the tool's validation and authorization. */

export type OrderState = 'processing' | 'in_transit' | 'delivered' | 'cancelled';

export interface OrderRecord {
  reference: string;
  state: OrderState;
  /** Undefined: readable by any authenticated user (demo order). */
  ownerUserId?: string;
  delayed?: boolean;
}

export type OrderLookup =
  | { status: 'found'; order: OrderRecord }
  | { status: 'missing' }
  | { status: 'denied' };

export const ORDER_REFERENCE_PATTERN = /^ORDER-[A-Z0-9][A-Z0-9-]{0,31}$/;

export class InvalidToolArgumentsError extends Error {
  override name = 'InvalidToolArgumentsError';
}

export const EMBEDDED_ORDERS: readonly OrderRecord[] = [
  { reference: 'ORDER-924', state: 'processing' },
  { reference: 'ORDER-7001', state: 'in_transit', ownerUserId: 'usr_owner_7001', delayed: true },
  { reference: 'ORDER-123EU', state: 'in_transit', delayed: true },
];

export class OrderStatusTool {
  readonly name = 'fetch_order_status';
  private readonly orders: ReadonlyMap<string, OrderRecord>;

  constructor(orders: readonly OrderRecord[] = EMBEDDED_ORDERS) {
    this.orders = new Map(orders.map((o) => [o.reference, o]));
  }

  /** Validates arguments, then authorizes: a user reads only their own (or unowned) orders. */
  lookup(args: { orderReference: string; userId: string }): OrderLookup {
    if (!ORDER_REFERENCE_PATTERN.test(args.orderReference)) {
      throw new InvalidToolArgumentsError('order_reference must look like ORDER-<id>');
    }
    if (args.userId.length === 0) throw new InvalidToolArgumentsError('user_id is required');
    // Any reference ending in 404 is missing, by contract (SPEC §2).
    const order = args.orderReference.endsWith('404') ? undefined : this.orders.get(args.orderReference);
    if (!order) return { status: 'missing' };
    if (order.ownerUserId !== undefined && order.ownerUserId !== args.userId) return { status: 'denied' };
    return { status: 'found', order };
  }
}
