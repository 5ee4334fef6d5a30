/* What main.c needs from the board (startup.c): output to the host, exit, the
 * instruction counter and the stack high-water mark. */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>

void board_write(const char *bytes, size_t len);
void board_exit(int success);
void board_timer_start(void);
uint32_t board_timer_now(void);
uint32_t board_calibrate(uint32_t *instructions);
uint32_t board_stack_used(void);

#endif
