/*
 * A stand-in for the CUDA driver (libcuda.so.1) on the test cluster, whose
 * GPUs are count-only GRES on stand-in devices (scripts/slurm-up). Sena's
 * environment check counts and names GPUs through the driver API; this
 * answers the few calls it makes from what SLURM set in the job: one device
 * per entry of CUDA_VISIBLE_DEVICES, named by SENA_STANDIN_GPU_NAMES (the
 * comma-separated names of the node's GPUs by index, as gres.conf orders
 * them), so the check sees exactly the GPUs SLURM allocated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX 64
static int visible[MAX];
static int nvisible = -1;

static void load(void) {
	if (nvisible >= 0)
		return;
	nvisible = 0;
	const char *v = getenv("CUDA_VISIBLE_DEVICES");
	if (!v)
		return;
	char buf[512];
	snprintf(buf, sizeof buf, "%s", v);
	for (char *tok = strtok(buf, ","); tok && nvisible < MAX; tok = strtok(NULL, ","))
		visible[nvisible++] = atoi(tok);
}

static void name_of(int index, char *out, int len) {
	const char *names = getenv("SENA_STANDIN_GPU_NAMES");
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", names ? names : "");
	int i = 0;
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","), i++) {
		if (i == index) {
			snprintf(out, len, "%s (stand-in %d)", tok, index);
			return;
		}
	}
	snprintf(out, len, "stand-in GPU %d", index);
}

int cuInit(unsigned int flags) { (void)flags; load(); return 0; }
int cuDeviceGetCount(int *n) { load(); *n = nvisible; return 0; }
int cuDeviceGet(int *dev, int ordinal) {
	load();
	if (ordinal < 0 || ordinal >= nvisible)
		return 101; /* CUDA_ERROR_INVALID_DEVICE */
	*dev = ordinal;
	return 0;
}
int cuDeviceGetName(char *name, int len, int dev) {
	load();
	if (dev < 0 || dev >= nvisible)
		return 101;
	name_of(visible[dev], name, len);
	return 0;
}
int cuDriverGetVersion(int *v) { *v = 12040; return 0; }
