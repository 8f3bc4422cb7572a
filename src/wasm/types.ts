/** Epoch milliseconds, an ISO-8601 string, or a `Date`. */
export type DateInput = number | string | Date;

/** A credit amount: a number (read to the nearest 1e-6) or an exact decimal string such as `"0.1"`. */
export type AmountInput = number | string;

/**
 * The host's key-value store. Every method may return its result directly or
 * as a Promise: a `Map` wrapper, Durable Object storage and Workers KV all fit.
 * Values are strings written by this library; a missing key is `null` or `undefined`.
 */
export interface CreditPoolsKv {
  get(key: string): string | null | undefined | Promise<string | null | undefined>;
  put(key: string, value: string): unknown | Promise<unknown>;
  delete?(key: string): unknown | Promise<unknown>;
  /**
   * Optional compare-and-set, for several `CreditLedger` instances (processes, isolates)
   * writing one store. Atomically: if `key`'s version equals `expectedVersion`, store `value`
   * with version `expectedVersion + 1` and return `true`; otherwise write nothing and return
   * `false`. A key never written this way has version 0. The ledger writes its commit records
   * (scope heads, accounts) through it, retries a conflict a bounded number of times after
   * re-reading, then rejects with `CONFLICT`. Without it, run one writer per customer (a
   * Durable Object) — see the README's consistency model.
   *
   * @example
   * ```ts
   * const versions = new Map<string, number>();
   * const kv: CreditPoolsKv = {
   *   get: (k) => map.get(k),
   *   put: (k, v) => { map.set(k, v); },
   *   putIfVersion: (k, v, expected) => {
   *     if ((versions.get(k) ?? 0) !== expected) return false;
   *     versions.set(k, expected + 1); map.set(k, v); return true;
   *   },
   * };
   * ```
   */
  putIfVersion?(key: string, value: string, expectedVersion: number): boolean | Promise<boolean>;
  /**
   * Optional atomic batch: write every entry or none, in one call — Durable Object storage's
   * `put(entries)` is exactly this (`putMany: (e) => ctx.storage.put(e)`). With it, an
   * operation's writes reach the store in one call. At most 128 entries per call.
   */
  putMany?(entries: Record<string, string>): unknown | Promise<unknown>;
}

export interface CurrencyDefinition {
  id: string;
  displayName?: string;
}

export interface PlanCreditDefinition {
  currencyId: string;
  /** Credits granted per billing period (no rollover). */
  amount: AmountInput;
  cadence: "MONTH" | "YEAR";
  /** With a soft limit, entitlement checks allow usage past zero. */
  hasSoftLimit?: boolean;
}

export interface CreditRateDefinition {
  featureId: string;
  currencyId: string;
  /** Credits that one unit of the feature costs on this plan (optional with `costFormula`). */
  amount?: AmountInput;
  /**
   * Credits as an expression over the usage's `dimensions` (and `value`): numbers, names,
   * `+ - * /`, parentheses, `min(…)`, `max(…)`; exact decimals. E.g. `"1.1*model1_tokens + 1.5*model2_tokens"`.
   */
  costFormula?: string;
}

export interface PlanDefinition {
  id: string;
  credits?: PlanCreditDefinition[];
  creditRates?: CreditRateDefinition[];
}

export interface Catalog {
  currencies: CurrencyDefinition[];
  plans?: PlanDefinition[];
}

export interface CreditLedgerOptions {
  kv: CreditPoolsKv;
  catalog: Catalog;
  /** The clock, in epoch milliseconds (or a `Date`). Defaults to `Date.now`. */
  now?: () => number | Date;
  /** Namespace for every key this ledger writes: 1–64 characters of `A-Z a-z 0-9 _ . : -`. Default `"credit-pools"`. */
  keyPrefix?: string;
  /**
   * Receives every event after the operation that produced it has been committed to `kv`.
   * A throw is logged and ignored: it never undoes or blocks the operation.
   */
  onEvent?: (event: CreditPoolsEvent) => void;
  /**
   * Collects the payment of an automatic recharge. Resolve (or return) when paid: the
   * recharge grant becomes ACTIVE. Throw or reject when the payment failed: the grant is
   * voided and the configuration disabled. Without it, recharges stay PAYMENT_PENDING until
   * `confirmRecharge` / `failRecharge`.
   */
  onRecharge?: (request: RechargeRequest) => unknown | Promise<unknown>;
  /** Remaining-balance percentages for `credits.balance.usage_low`; default `[80, 50, 20]`. */
  usageLowThresholds?: number[];
  /**
   * This ledger is the only writer of `kv` — one `CreditLedger` per Durable Object, or per
   * process over a store nothing else writes. It then keeps the scope heads and accounts it
   * committed or read in memory and trusts them: a warm pool costs no `kv.get` at all. Another
   * writer of the same store would lose updates, so leave it off unless that cannot happen.
   * (With `kv.putIfVersion`, writes use the cache anyway — compare-and-set checks it.) Default `false`.
   */
  exclusive?: boolean;
}

export type GrantType = "PAID" | "PROMOTIONAL" | "RECURRING" | "OVERDRAFT";
export type GrantStatus = "SCHEDULED" | "PAYMENT_PENDING" | "ACTIVE" | "EXPIRED" | "VOIDED";
export type CreditLedgerEventType =
  | "CREDITS_GRANTED"
  | "CREDITS_CONSUMED"
  | "CREDITS_EXPIRED"
  | "CREDITS_VOIDED"
  | "CREDITS_CONSUMPTION_TRANSFER_SOURCE"
  | "CREDITS_CONSUMPTION_TRANSFER_TARGET";

/** Stable codes carried by every rejection's `code` property. */
export type CreditPoolsErrorCode =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "IDEMPOTENCY_CONFLICT"
  | "LIMIT_EXCEEDED"
  | "INVALID_STATE"
  | "INSUFFICIENT_CREDITS"
  | "STORE_ERROR"
  | "CORRUPT_STATE"
  /** Other writers kept committing to the same record (with `kv.putIfVersion`); nothing was written. Retry. */
  | "CONFLICT";

/** What every method rejects with. */
export interface CreditPoolsError extends Error {
  name: "CreditPoolsError";
  code: CreditPoolsErrorCode;
}

export interface ProvisionSubscriptionInput {
  customerId: string;
  planId: string;
  /** The resource (workspace, member, API key) whose isolated pool this subscription funds. */
  resourceId?: string | null;
  /** Anchors the billing periods. Defaults to now. */
  startDate?: DateInput;
}

export interface Subscription {
  id: string;
  customerId: string;
  planId: string;
  resourceId: string | null;
  status: "ACTIVE" | "NOT_STARTED";
  startDate: string;
}

export interface ProvisionSubscriptionResult {
  id: string;
  status: "SUCCESS";
  subscription: Subscription;
  events: CreditPoolsEvent[];
}

export interface GrantCreditsInput {
  customerId: string;
  resourceId?: string | null;
  /** The credit currency. `creditTypeId` is accepted as another name for it. */
  currencyId?: string;
  creditTypeId?: string;
  amount: AmountInput;
  displayName?: string;
  grantType?: "PAID" | "PROMOTIONAL";
  /** Lower is burned first; default 0. */
  priority?: number;
  effectiveAt?: DateInput;
  expireAt?: DateInput;
  comment?: string;
  metadata?: Record<string, string>;
  idempotencyKey?: string;
}

export interface CreditGrant {
  id: string;
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  amount: number;
  consumedAmount: number;
  grantType: GrantType;
  status: GrantStatus;
  priority: number;
  effectiveAt: string;
  expireAt: string | null;
  createdAt: string;
  voidedAt: string | null;
  displayName: string | null;
  comment: string | null;
  metadata: Record<string, string> | null;
  subscriptionId: string | null;
  /** Set on grants created by automatic recharge. */
  automaticRechargeConfigurationId: string | null;
}

/** A grant as returned by a write, with the events the write produced. */
export type GrantCreditsResult = CreditGrant & { events: CreditPoolsEvent[] };

export interface ReportUsageInput {
  customerId: string;
  resourceId?: string | null;
  featureId: string;
  /** Units of the feature; must be greater than 0. */
  value: AmountInput;
  /** A repeat with the same key is applied once and answers `consumed: 0`. */
  idempotencyKey?: string;
  createdAt?: DateInput;
  /** Debit only if the available balance (after reservations) covers it; else reject with `INSUFFICIENT_CREDITS`. */
  requireBalance?: boolean;
  /** Usage attributes: inputs of a `costFormula`, keys `getCreditUsage` can group by (at most 16). */
  dimensions?: Record<string, string | number | boolean>;
}

export interface CreditUsage {
  currencyId: string;
  /** Credits this call took (0 for an idempotent repeat). */
  consumed: number;
  /** Credits consumed from the pool so far. */
  currentUsage: number;
  /** Credits granted to the pool so far. */
  usageLimit: number;
  currentBalance: number;
  timestamp: string;
}

export interface ReportUsageResult {
  customerId: string;
  resourceId: string | null;
  featureId: string;
  credit: CreditUsage;
  /** What this call committed: grant, balance and recharge events. */
  events: CreditPoolsEvent[];
}

export interface ConsumeCreditsInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  creditTypeId?: string;
  amount: AmountInput;
  idempotencyKey: string;
  createdAt?: DateInput;
  /** Debit only if the available balance (after reservations) covers it; else reject with `INSUFFICIENT_CREDITS`. */
  requireBalance?: boolean;
}

export interface ConsumeCreditsResult {
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  /** Credits this call took (0 for an idempotent repeat). */
  amount: number;
  timestamp: string;
  credit: CreditUsage;
  events: CreditPoolsEvent[];
}

export interface GetCreditBalanceInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  creditTypeId?: string;
}

export interface CreditBalance {
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  currentBalance: number;
  totalGranted: number;
  totalConsumed: number;
  totalExpired: number;
  totalVoided: number;
  /** Credit held by open reservations. */
  reservedAmount: number;
  /** `currentBalance − reservedAmount`. */
  availableBalance: number;
}

export interface GetCreditLedgerInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  eventType?: CreditLedgerEventType[];
  /** 1–1000, default 100. */
  limit?: number;
  cursor?: string;
  /** Default `"DESC"` (newest first). */
  order?: "ASC" | "DESC";
}

export interface CreditLedgerEvent {
  /** Position in the scope's append-only ledger. */
  seq: number;
  eventType: CreditLedgerEventType;
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  amount: number;
  creditGrantId: string;
  featureId: string | null;
  eventId: string | null;
  timestamp: string;
}

export interface CreditLedgerPage {
  events: CreditLedgerEvent[];
  nextCursor: string | null;
}

export interface GetCreditGrantsInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  limit?: number;
  cursor?: string;
}

export interface CreditGrantsPage {
  grants: CreditGrant[];
  nextCursor: string | null;
}

export interface VoidCreditGrantInput {
  /** The grant's id, as returned by `grantCredits` or listed by `getCreditGrants`. */
  id: string;
}

export interface GetCreditEntitlementInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  creditTypeId?: string;
  /** Credits about to be used; `hasAccess` needs the balance to cover them. Default 0 (then the balance must be > 0). */
  requestedUsage?: AmountInput;
}

export interface CreditEntitlement {
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  hasAccess: boolean;
  accessDeniedReason: "InsufficientCredits" | null;
  requestedUsage: number;
  /** Credits granted to the pool so far. */
  usageLimit: number;
  /** Credits consumed from the pool so far. */
  currentUsage: number;
  currentBalance: number;
  /** Credit held by open reservations; access is judged on the balance less this. */
  reservedAmount: number;
  /** From the subscription's plan credit for this currency: access even at or below zero. */
  hasSoftLimit: boolean;
  /** End of the subscription's current credit period for this currency, if it has one. */
  usagePeriodEnd: string | null;
}

export interface EstimateUsageCostInput {
  customerId: string;
  resourceId?: string | null;
  featureId: string;
  value: AmountInput;
  dimensions?: Record<string, string | number | boolean>;
}

export interface CostEstimate {
  currencyId: string;
  estimatedCost: number;
  currentBalance: number;
  balanceAfterEstimate: number;
  /** True when the cost exceeds the balance less open reservations. */
  wouldOverdraft: boolean;
  reservedAmount: number;
}

export interface UsageCostEstimation {
  customerId: string;
  resourceId: string | null;
  featureId: string;
  estimates: CostEstimate[];
}

export interface SaveAutomaticRechargeConfigurationInput {
  customerId: string;
  currencyId?: string;
  creditTypeId?: string;
  isEnabled: boolean;
  thresholdType?: "CREDIT_AMOUNT";
  /** Recharge when a debit leaves a pool below this balance. Must be below `targetBalance`. */
  thresholdValue: AmountInput;
  /** Top the pool up to this balance. */
  targetBalance: AmountInput;
  /** Cap on recharges per UTC calendar month across all of the customer's pools; `null` = none. */
  maxSpendLimit?: AmountInput | null;
  /** Recharge grants expire this long after their payment is confirmed. Default `"1_MONTH"`. */
  grantExpirationPeriod?: "1_MONTH" | "1_YEAR";
}

export interface GetAutomaticRechargeConfigurationInput {
  customerId: string;
  currencyId?: string;
  creditTypeId?: string;
}

export interface AutomaticRechargeConfiguration {
  /** `null` until a configuration is saved. */
  id: string | null;
  customerId: string;
  currencyId: string;
  isEnabled: boolean;
  thresholdType: "CREDIT_AMOUNT";
  thresholdValue: number;
  targetBalance: number;
  maxSpendLimit: number | null;
  grantExpirationPeriod: "1_MONTH" | "1_YEAR";
  /** Recharges of the current UTC month across all pools, pending ones included. */
  currentMonthlySpend: number;
}

export type AutomaticRechargeConfigurationResult = AutomaticRechargeConfiguration & { events: CreditPoolsEvent[] };

/** A payment the host collects for an automatic recharge (`onRecharge`). */
export interface RechargeRequest {
  /** Stable id of this recharge; also the id of its PAYMENT_PENDING grant. */
  rechargeId: string;
  customerId: string;
  /** The pool that crossed the threshold and receives the credits. */
  resourceId: string | null;
  currencyId: string;
  amount: number;
  automaticRechargeConfigurationId: string;
}

export interface RechargeOutcomeInput {
  rechargeId: string;
  /** Why the payment failed (`failRecharge`), carried into the event. */
  reason?: string;
}

/** Fields every event carries. */
export interface CreditPoolsEventBase {
  /** Unique per event: deduplicate webhook deliveries on it. */
  messageId: string;
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  timestamp: string;
}

/** Events for the host, with Stigg's webhook names. */
export type CreditPoolsEvent = CreditPoolsEventBase &
  (
    | { type: "credits.granted"; grantId: string; amount: number }
    | { type: "credits.expired"; grantId: string; amount: number }
    | { type: "credits.grant.voided"; grantId: string; amount: number }
    | { type: "credits.grant.depleted"; grantId: string; amount: number }
    | {
        type: "credits.balance.usage_low";
        /** The remaining-balance percentage the balance fell below. */
        thresholdPercentage: number;
        remainingBalance: number;
        remainingBalancePercentage: number;
        grantedThisPeriod: number;
      }
    | { type: "credits.balance.depleted"; currentBalance: number }
    | {
        type: "automatic_recharge.operation.attempted";
        rechargeId: string;
        configurationId: string;
        grantId: string;
        amount: number;
        status: "PENDING" | "SUCCESS" | "FAILED";
        reason: string | null;
      }
    | {
        type: "credits.automatic_recharge_limit_exceeded";
        configurationId: string;
        requestedAmount: number;
        allowedAmount: number;
        maxSpendLimit: number;
        currentMonthlySpend: number;
      }
    | { type: "automatic_recharge.configuration.changed"; configurationId: string; changedBy: "USER" | "SYSTEM"; isEnabled: boolean }
  );

export interface ReserveCreditsInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  creditTypeId?: string;
  amount: AmountInput;
  /** How long the credit is held before it returns by itself (1 ms to 7 days). */
  ttlMs: number;
  idempotencyKey: string;
}

export interface CreditReservation {
  reservationId: string;
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  amount: number;
  expiresAt: string;
  /** The pool's balance less every open reservation, this one included. */
  availableBalance: number;
  events: CreditPoolsEvent[];
}

export interface SettleReservationInput {
  reservationId: string;
  /** What was actually used: at most the reserved amount; the rest returns. */
  amount: AmountInput;
}

export interface ReleaseReservationInput {
  reservationId: string;
}

export interface ReservationResolution {
  reservationId: string;
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  settledAmount: number;
  releasedAmount: number;
  credit: CreditUsage;
  events: CreditPoolsEvent[];
}

export interface GetCreditUsageInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  creditTypeId?: string;
  startDate: DateInput;
  /** Exclusive. */
  endDate: DateInput;
  /** Up to 3 of `"featureId"` or dimension keys. */
  groupBy?: string[];
  /** Bucket size, UTC. Default `"DAY"`. */
  granularity?: "HOUR" | "DAY" | "MONTH";
}

export interface UsagePoint {
  /** Start of the bucket. */
  timestamp: string;
  value: number;
  eventCount: number;
}

export interface UsageSeries {
  /** The group's value for each `groupBy` key (`null` where a usage lacked it). */
  group: Record<string, string | null>;
  currencyId: string;
  totalCredits: number;
  eventCount: number;
  points: UsagePoint[];
}

export interface CreditUsageReport {
  customerId: string;
  resourceId: string | null;
  currencyId: string | null;
  startDate: string;
  endDate: string;
  granularity: "HOUR" | "DAY" | "MONTH";
  groupBy: string[];
  series: UsageSeries[];
  /** False when the range held more history than one query reads; narrow it to see the rest. */
  complete: boolean;
}

export interface TransferSubscriptionToResourceInput {
  subscriptionId: string;
  destinationResourceId: string;
}

export interface TransferSubscriptionResult {
  subscription: Subscription;
  /** The resource the subscription left (`null`: the customer's global pool). */
  sourceResourceId: string | null;
  events: CreditPoolsEvent[];
}

export interface BuildInfo {
  name: string;
  version: string;
}
