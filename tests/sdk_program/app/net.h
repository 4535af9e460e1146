#define CHECK_TOLERANCE 1e-4
#define ERROR_TOLERANCE 0.01

#define STACK_SIZE 4096

void net_step(void *arg);
