// Types of scripts/check-node.mjs (plain JS so that an old Node can run it).
export declare const NODE_FLOOR: string;
export declare const NODE_HELP: string;
export declare function unsupportedNodeMessage(found: string, floor?: string): string | undefined;
