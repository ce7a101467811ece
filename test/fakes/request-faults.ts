import { setTimeout as sleep } from 'node:timers/promises';

/** Which requests a fault (failure, hold or delay) applies to; unset fields match anything. */
export interface RequestMatcher {
  method?: string;
  /** Compared with the request path without its query. */
  pathPrefix?: string;
  /** Text the request body (or, for GETs, the query) must contain, e.g. a name, to single out one caller. */
  bodyIncludes?: string;
}

export function matchesRequest(matcher: RequestMatcher, request: { method: string; path: string; text?: string }): boolean {
  return (
    (!matcher.method || matcher.method === request.method) &&
    (!matcher.pathPrefix || request.path.startsWith(matcher.pathPrefix)) &&
    (!matcher.bodyIncludes || (request.text ?? '').includes(matcher.bodyIncludes))
  );
}

/** A request a fake performed and whose answer it holds until `release()`. */
export interface HeldAnswer<R> {
  /** Resolves when the matching request has arrived and been performed. */
  arrived: Promise<R>;
  release: () => void;
}

interface Pending<M, R> {
  matcher: M;
  arrived: (request: R) => void;
  wait: () => Promise<void>;
}

/**
 * Answers a fake has already acted on but sends late: held until released (the moment to SIGKILL the
 * caller, which then never learns what the upstream did) or delayed (past the caller's timeout, so it gives
 * up on a call that took effect). One implementation shared by the OCI, MLflow and Kubernetes fakes.
 */
export class HeldAnswers<M extends RequestMatcher, R extends { method: string; path: string; text?: string }> {
  private readonly pending: Pending<M, R>[] = [];

  hold(matcher: M): HeldAnswer<R> {
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let arrived = (_request: R): void => undefined;
    const arrival = new Promise<R>((resolve) => (arrived = resolve));
    this.pending.push({ matcher, arrived, wait: () => released });
    return { arrived: arrival, release };
  }

  /** The next `count` matching requests are answered `delayMs` after they arrive. */
  delay(matcher: M, delayMs: number, count = 1): void {
    for (let i = 0; i < count; i++) this.pending.push({ matcher, arrived: () => undefined, wait: () => sleep(delayMs) });
  }

  /** Waits as long as the first hold or delay matching `request` says; at once when none does. */
  async before(request: R): Promise<void> {
    const index = this.pending.findIndex(({ matcher }) => matchesRequest(matcher, request));
    if (index < 0) return;
    const [held] = this.pending.splice(index, 1);
    if (!held) return;
    held.arrived(request);
    await held.wait();
  }
}
