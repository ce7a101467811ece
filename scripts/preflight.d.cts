/** Types of preflight.cjs, which stays plain CommonJS so that old Node versions can run it. */
export declare function nodeVersionProblem(found: string): string | undefined;
export declare function redisProblem(task: string, env: Record<string, string | undefined>, hasRedisServer: boolean): string | undefined;
export declare function preflightProblems(task: string, versionFound: string, env: Record<string, string | undefined>, hasRedisServer: boolean): string[];
