export declare const DEBIAN_GOPATH: string;
export declare function goMissing(packages?: string[]): string | undefined;
export declare function goBuild(options: {
  target: string;
  out: string;
  cwd?: string;
  workDir: string;
}): Promise<void>;
