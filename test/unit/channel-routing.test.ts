import { describe, expect, it } from 'vitest';
import type { Route } from '../../src/config/config-file.js';
import { pickChannel } from '../../src/domain/route.js';

const COMPARTMENT = 'ocid1.compartment.oc1..aaaaaaaa4mlops';
const route = (match: Route['match'], channel: string): Route => ({ match, channel });

const ROUTES: Route[] = [
  route({ kind: 'alarm', severity: 'CRITICAL' }, 'C0ONCALL'),
  route({ kind: 'training', resourceName: 'fraud-*' }, 'C0FRAUD'),
  route({ kind: 'training' }, 'C0TRAIN'),
  route({ compartmentId: COMPARTMENT }, 'C0MLOPS'),
];

describe('pickChannel', () => {
  it('sends anything unmatched to the default channel', () => {
    expect(pickChannel(ROUTES, 'C0DEFAULT', { kind: 'build' })).toBe('C0DEFAULT');
    expect(pickChannel([], 'C0DEFAULT', { kind: 'training', resourceName: 'fraud-model' })).toBe('C0DEFAULT');
  });

  it('lets the first matching route win', () => {
    expect(pickChannel(ROUTES, 'C0DEFAULT', { kind: 'training', resourceName: 'fraud-model-train', compartmentId: COMPARTMENT })).toBe('C0FRAUD');
    expect(pickChannel(ROUTES, 'C0DEFAULT', { kind: 'training', resourceName: 'churn-model-train', compartmentId: COMPARTMENT })).toBe('C0TRAIN');
  });

  it('requires every condition of a route to hold', () => {
    expect(pickChannel(ROUTES, 'C0DEFAULT', { kind: 'alarm', severity: 'CRITICAL' })).toBe('C0ONCALL');
    expect(pickChannel(ROUTES, 'C0DEFAULT', { kind: 'alarm', severity: 'WARNING' })).toBe('C0DEFAULT');
    expect(pickChannel(ROUTES, 'C0DEFAULT', { kind: 'deploy', severity: 'CRITICAL' })).toBe('C0DEFAULT');
  });

  it('matches on compartment alone when that is all the route asks', () => {
    expect(pickChannel(ROUTES, 'C0DEFAULT', { kind: 'deploy', compartmentId: COMPARTMENT })).toBe('C0MLOPS');
    expect(pickChannel(ROUTES, 'C0DEFAULT', { kind: 'deploy', compartmentId: 'ocid1.compartment.oc1..other' })).toBe('C0DEFAULT');
  });

  it('matches resource names as case-insensitive globs and never matches a missing name', () => {
    const byName = [route({ resourceName: 'fraud-*' }, 'C0FRAUD'), route({ resourceName: '*.{prod,stage}' }, 'C0ENV')];
    expect(pickChannel(byName, 'C0DEFAULT', { kind: undefined, resourceName: 'FRAUD-model' })).toBe('C0FRAUD');
    expect(pickChannel(byName, 'C0DEFAULT', { kind: undefined, resourceName: 'api.prod' })).toBe('C0ENV');
    expect(pickChannel(byName, 'C0DEFAULT', { kind: undefined, resourceName: '.hidden.prod' })).toBe('C0ENV');
    expect(pickChannel(byName, 'C0DEFAULT', { kind: undefined, resourceName: 'churn-model' })).toBe('C0DEFAULT');
    expect(pickChannel(byName, 'C0DEFAULT', { kind: undefined })).toBe('C0DEFAULT');
  });

  it('does not treat hostile names as patterns', () => {
    const byName = [route({ resourceName: 'fraud-*' }, 'C0FRAUD')];
    expect(pickChannel(byName, 'C0DEFAULT', { kind: 'training', resourceName: '<!channel>' })).toBe('C0DEFAULT');
    expect(pickChannel(byName, 'C0DEFAULT', { kind: 'training', resourceName: '*' })).toBe('C0DEFAULT');
  });

  it('lets a route with an empty match catch everything', () => {
    expect(pickChannel([route({}, 'C0ALL')], 'C0DEFAULT', { kind: undefined })).toBe('C0ALL');
  });

  it('routes a notice without a kind only by routes that do not ask for one', () => {
    expect(pickChannel(ROUTES, 'C0DEFAULT', { kind: undefined, resourceName: 'fraud-model' })).toBe('C0DEFAULT');
  });
});
