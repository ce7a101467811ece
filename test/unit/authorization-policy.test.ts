import { describe, expect, it } from 'vitest';
import { decide, groupsIn } from '../../src/domain/policy.js';

const NO_GROUPS: ReadonlyMap<string, readonly string[]> = new Map();

describe('decide', () => {
  it('allows a user listed by ID', () => {
    expect(decide('approvers', ['U0LEAD1', 'U0LEAD2'], 'U0LEAD2', NO_GROUPS)).toEqual({ allowed: true, via: 'U0LEAD2' });
  });

  it('allows a member of a listed user group, naming the group', () => {
    const members = new Map([['S0SRE', ['U0BOB', 'U0CAROL']]]);
    expect(decide('deployers', ['S0SRE'], 'U0CAROL', members)).toEqual({ allowed: true, via: 'S0SRE' });
  });

  it('refuses someone outside every listed user and group, saying which role and holders', () => {
    const members = new Map([['S0SRE', ['U0BOB']]]);
    expect(decide('deployers', ['S0SRE', 'U0LEAD1'], 'U0MALLORY', members)).toEqual({ allowed: false, role: 'deployers', holders: ['S0SRE', 'U0LEAD1'] });
  });

  it('refuses a user whose display name equals an approver’s name: only IDs count', () => {
    // Mallory renamed herself "lead1"; the caller passes her immutable ID, which is not listed.
    expect(decide('approvers', ['U0LEAD1'], 'U0MALLORY', NO_GROUPS).allowed).toBe(false);
    // Even a (misconfigured) name in the holder list never matches a user ID.
    expect(decide('approvers', ['lead1', 'Lead One'], 'U0MALLORY', NO_GROUPS).allowed).toBe(false);
  });

  it('refuses a group member when the group’s members are unknown', () => {
    expect(decide('trainers', ['S0DS'], 'U0ALICE', NO_GROUPS).allowed).toBe(false);
  });

  it('does not treat a user listed in a map under a non-group ID as a group member', () => {
    const members = new Map([['U0LEAD1', ['U0MALLORY']]]);
    expect(decide('approvers', ['U0LEAD1'], 'U0MALLORY', members).allowed).toBe(false);
  });

  it('refuses everyone when no one holds the role', () => {
    expect(decide('approvers', [], 'U0LEAD1', NO_GROUPS)).toEqual({ allowed: false, role: 'approvers', holders: [] });
  });

  it('matches IDs exactly, not by prefix or case', () => {
    expect(decide('approvers', ['U0LEAD1'], 'U0LEAD10', NO_GROUPS).allowed).toBe(false);
    expect(decide('approvers', ['U0LEAD1'], 'u0lead1', NO_GROUPS).allowed).toBe(false);
  });
});

describe('groupsIn', () => {
  it('lists the user groups whose members must be resolved', () => {
    expect(groupsIn(['U0LEAD1', 'S0SRE', 'W0ENT', 'S0DS'])).toEqual(['S0SRE', 'S0DS']);
  });
});
