import picomatch from 'picomatch';
import type { EventKind, Route } from '../config/config-file.js';

export interface RoutingFacts {
  kind: EventKind | undefined;
  compartmentId?: string | undefined;
  resourceName?: string | undefined;
  severity?: string | undefined;
}

function matches(route: Route, facts: RoutingFacts): boolean {
  const { match } = route;
  if (match.kind !== undefined && match.kind !== facts.kind) return false;
  if (match.compartmentId !== undefined && match.compartmentId !== facts.compartmentId) return false;
  if (match.severity !== undefined && match.severity !== facts.severity) return false;
  if (match.resourceName !== undefined) {
    if (facts.resourceName === undefined) return false;
    if (!picomatch.isMatch(facts.resourceName, match.resourceName, { nocase: true, dot: true })) return false;
  }
  return true;
}

/** The first route whose every condition holds picks the channel; otherwise the default channel. */
export function pickChannel(routes: readonly Route[], defaultChannel: string, facts: RoutingFacts): string {
  return routes.find((route) => matches(route, facts))?.channel ?? defaultChannel;
}
