export declare const DEBIAN_GOPATH: string;
export declare const GO_PLUGIN_PACKAGES: string[];
export declare const SDK_IMPORT_PATH: string;
export declare const SDK_DIR: string;
export declare const SDK_PACKAGES: string[];
export declare function goMissing(packages?: string[]): string | undefined;
export declare function goEnv(workDir: string): NodeJS.ProcessEnv;
export declare function goBuild(options: {
  target: string;
  out: string;
  cwd?: string;
  workDir: string;
}): Promise<void>;
export declare function goSkip(): string | false;
export declare function requireGo(packages?: string[]): void;
export declare function goTestSdk(options: {
  workDir: string;
  timeoutMs?: number;
}): Promise<string>;
